#include "pg/capture.h"

#include <spdlog/spdlog.h>

namespace walden::pg {

Result<std::unique_ptr<Capture>> Capture::Start(const CaptureOptions& options) {
  auto conn = ReplicationConnection::Open(options.conninfo);
  if (!conn) return std::unexpected(conn.error());
  if (auto published = conn->EnsurePublication(options.publication, options.tables);
      !published) {
    return std::unexpected(published.error());
  }
  std::unique_ptr<Capture> capture(new Capture(std::move(*conn), options));
  SlotState slot;
  if (options.temporary_slot) {
    auto created = capture->conn_.sql().Exec(
        "CREATE_REPLICATION_SLOT " + QuoteIdent(options.slot) + " TEMPORARY LOGICAL pgoutput");
    if (!created) return std::unexpected(created.error());
    slot.created = true;
    slot.consistent_point = Lsn::Parse(created->Value(0, 1)).value_or(Lsn{});
    slot.confirmed_flush = slot.consistent_point;
  } else {
    auto ensured = capture->conn_.EnsureSlot({.name = options.slot, .failover = options.failover});
    if (!ensured) return std::unexpected(ensured.error());
    slot = *ensured;
  }
  capture->slot_ = slot;
  capture->durable_ = capture->handed_out_ = slot.confirmed_flush;
  capture->stats_.confirmed = slot.confirmed_flush;
  capture->protocol_version_ = ProtocolVersionFor(capture->conn_.server_version());
  if (auto started = capture->conn_.StartStreaming({.slot = options.slot,
                                                     .publication = options.publication,
                                                     .start = slot.confirmed_flush,
                                                     .protocol_version = capture->protocol_version_,
                                                     .binary = options.binary});
      !started) {
    return std::unexpected(started.error());
  }
  capture->last_status_ = std::chrono::steady_clock::now();
  return capture;
}

Status Capture::HandleXLogData(const XLogData& data, const OnCommit& on_commit) {
  if (data.end > stats_.received) stats_.received = data.end;
  auto decoded = pgoutput::Decode(data.payload, assembler_.in_stream());
  if (!decoded) {
    return Fail(ErrorKind::kProtocol,
                decoded.error().message + " at WAL " + data.start.ToString());
  }
  auto committed = assembler_.Add(std::move(*decoded));
  if (!committed) return std::unexpected(committed.error());
  if (!*committed) return {};
  const TransactionInfo info = (*committed)->info();
  stats_.changes += (*committed)->change_count();
  ++stats_.transactions;
  if (auto ok = on_commit(std::move(**committed)); !ok) return ok;
  handed_out_ = info.end_lsn;
  return {};
}

Status Capture::Poll(std::chrono::milliseconds timeout, const OnCommit& on_commit) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_status_ >= options_.status_interval) {
      if (auto sent = SendStatus(false); !sent) return sent;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    auto message = conn_.Receive(std::max(left, std::chrono::milliseconds(0)));
    if (!message) return std::unexpected(message.error());
    if (!*message) return {};
    auto event = ParseCopyData((*message)->bytes());
    if (!event) return std::unexpected(event.error());
    if (const auto* data = std::get_if<XLogData>(&*event)) {
      if (auto ok = HandleXLogData(*data, on_commit); !ok) return ok;
    } else {
      const Keepalive& keepalive = std::get<Keepalive>(*event);
      server_end_ = std::max(server_end_, keepalive.end);
      if (keepalive.reply_requested) {
        if (auto sent = SendStatus(false); !sent) return sent;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return {};
  }
}

void Capture::Confirm(Lsn end_lsn) { durable_ = std::max(durable_, end_lsn); }

Status Capture::SendStatus(bool reply) {
  Lsn flush = durable_;
  // Nothing handed out is waiting for a sink and no transaction is open: everything up to
  // the server's WAL end is either confirmed or irrelevant to the publication.
  if (durable_ >= handed_out_ && assembler_.idle() && server_end_ > flush) flush = server_end_;
  last_status_ = std::chrono::steady_clock::now();
  stats_.confirmed = std::max(stats_.confirmed, flush);
  return conn_.SendStatus(std::max(stats_.received, flush), flush, reply);
}

Status Capture::Flush() { return SendStatus(false); }

}  // namespace walden::pg
