#include "pg/capture.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "common/strings.h"

namespace walden::pg {
namespace {

// Connection attempts made from the run loop (reconnects): an unreachable host must not
// hold the loop for libpq's usual 10 s.
constexpr int kReconnectTimeoutSeconds = 2;

// A catalog look-up the decoder could not make is never decided without (a type taken as
// text would stay text): as a connection error, it makes the stream reconnect and send the
// message again from the last confirmed position.
template <typename T>
Result<T> ReadAgainOnFailure(Result<T> looked_up) {
  if (looked_up) return looked_up;
  return Fail(ErrorKind::kConnection, "reading the stream again after a failed catalog look-up: " +
                                          looked_up.error().message);
}

}  // namespace

std::chrono::milliseconds Backoff::Next() {
  static thread_local std::mt19937 random{std::random_device{}()};
  const auto base = current_;
  current_ = std::min(current_ * 2, max_);
  // ±20 % jitter so that many walden processes do not reconnect in lockstep.
  std::uniform_int_distribution<int64_t> jitter(-base.count() / 5, base.count() / 5);
  return base + std::chrono::milliseconds(jitter(random));
}

Capture::Capture(ReplicationConnection conn, Connection catalog, const CaptureOptions& options)
    : conn_(std::move(conn)),
      catalog_(std::move(catalog)),
      options_(options),
      assembler_(
          {.memory_limit = options.memory_limit,
           .spill_dir = options.spill_dir,
           .type_lookup =
               [this](uint32_t oid) { return ReadAgainOnFailure(LookupType(Catalog(), oid)); },
           .relation_lookup =
               [this](uint32_t id) {
                 return ReadAgainOnFailure(LookupAttributes(Catalog(), id));
               }}) {}

Connection& Capture::Catalog() {
  // A lag check that timed out, or a stop, closed it. Should opening it fail, the look-up
  // fails on the closed connection and says why.
  if (auto ok = EnsureCatalog(); !ok) {
    spdlog::warn("catalog connection could not be opened again: {}", ok.error().message);
  }
  return catalog_;
}

Result<int64_t> Capture::SlotLagBytes() {
  if (auto catalog = EnsureCatalog(); !catalog) return std::unexpected(catalog.error());
  auto result = catalog_.Exec(
      "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)"
      "::bigint, r.sent_lsn FROM pg_catalog.pg_replication_slots s LEFT JOIN "
      "pg_catalog.pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = " +
      QuoteLiteral(options_.slot));
  if (!result) return std::unexpected(result.error());
  if (result->rows() != 1 || result->IsNull(0, 0)) {
    return Fail(ErrorKind::kNotFound, "replication slot " + options_.slot + " disappeared");
  }
  const Lsn sent = Lsn::Parse(result->Value(0, 1)).value_or(Lsn{});
  if (sent != sender_sent_) {
    sender_sent_ = sent;
    sender_moved_ = std::chrono::steady_clock::now();
  }
  auto lag = ParseInt64(result->Value(0, 0));
  if (!lag) {
    return Fail(ErrorKind::kProtocol,
                "unexpected slot lag \"" + std::string(result->Value(0, 0)) + "\"");
  }
  return *lag;
}

Status Capture::ReconnectIfStalled(std::chrono::milliseconds quiet) {
  const auto now = std::chrono::steady_clock::now();
  if (!connected_ || options_.temporary_slot || now - last_message_ < quiet ||
      now - sender_moved_ < quiet) {
    return {};
  }
  const int pid = PQbackendPID(conn_.sql().get());
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - last_message_);
  spdlog::warn(
      "capture: connected to slot {} but nothing arrived for {} s and its walsender (PID {}) "
      "has not moved past {}, while committed changes are waiting; ending that walsender and "
      "reconnecting",
      options_.slot, seconds.count(), pid, sender_sent_.ToString());
  // Our own backend: ending it frees the slot for the new connection (when it can run).
  (void)catalog_.Exec("SELECT pg_catalog.pg_terminate_backend(" + std::to_string(pid) + ")");
  Disconnected(Error{ErrorKind::kConnection,
                     "the stream stalled for " + std::to_string(seconds.count()) + " s"},
               /*at_once=*/true);
  return {};
}

Result<int64_t> Capture::CheckLag(int64_t threshold) {
  auto lag = SlotLagBytes();
  if (!lag) return lag;
  if (*lag > threshold && !lag_warned_) {
    spdlog::warn(
        "slot {} holds {} bytes of WAL, above source.lag_warn = {}; PostgreSQL keeps "
        "that WAL on disk until walden confirms it",
        options_.slot, *lag, threshold);
  } else if (*lag <= threshold && lag_warned_) {
    spdlog::info("slot {} lag is back to {} bytes", options_.slot, *lag);
  }
  lag_warned_ = *lag > threshold;
  return lag;
}

Result<std::unique_ptr<Capture>> Capture::Start(const CaptureOptions& options) {
  auto conn = ReplicationConnection::Open(options.conninfo, {.interrupt = options.stop});
  if (!conn) return std::unexpected(conn.error());
  if (auto published = conn->EnsurePublication(options.publication, options.tables); !published) {
    return std::unexpected(published.error());
  }
  // At start the connection may take libpq's usual time; its queries are bounded as later.
  ConnectOptions catalog_options = LoopConnectOptions(options.stop);
  catalog_options.connect_timeout_seconds = ConnectOptions{}.connect_timeout_seconds;
  auto catalog = Connection::Open(options.conninfo, catalog_options);
  if (!catalog) return std::unexpected(catalog.error());
  std::unique_ptr<Capture> capture(new Capture(std::move(*conn), std::move(*catalog), options));
  SlotState slot;
  if (options.temporary_slot) {
    auto created = capture->conn_.sql().Exec("CREATE_REPLICATION_SLOT " + QuoteIdent(options.slot) +
                                             " TEMPORARY LOGICAL pgoutput");
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
  capture->durable_ = capture->handed_out_ = capture->noted_ = slot.confirmed_flush;
  capture->stats_.confirmed = slot.confirmed_flush;
  capture->protocol_version_ = ProtocolVersionFor(capture->conn_.server_version());
  if (auto started = capture->StartStreaming(); !started) return std::unexpected(started.error());
  return capture;
}

Status Capture::StartStreaming(bool wait_for_slot) {
  while (true) {
    auto started = conn_.StartStreaming({.slot = options_.slot,
                                         .publication = options_.publication,
                                         .extra_publications = options_.extra_publications,
                                         .start = durable_,
                                         .protocol_version = protocol_version_,
                                         .binary = options_.binary});
    if (started) break;
    // "replication slot "x" is active for PID n": another reader holds the slot.
    const std::string& message = started.error().message;
    const size_t pid_at = message.find("is active for PID ");
    if (pid_at == std::string::npos) return started;
    const std::string pid = message.substr(
        pid_at + 18, message.find_first_not_of("0123456789", pid_at + 18) - (pid_at + 18));
    if (options_.takeover) {
      spdlog::warn("slot {} is in use by PID {}; terminating that backend (--takeover)",
                   options_.slot, pid);
      // pg_terminate_backend waits until the backend is gone; retrying at once wins the slot
      // before the evicted reader's reconnect (which backs off first).
      auto terminated =
          catalog_.QueryValue("SELECT pg_catalog.pg_terminate_backend(" + pid + ", 1500)");
      if (terminated && *terminated == "t") continue;
      spdlog::warn("could not terminate PID {}: {}", pid,
                   terminated ? "it did not exit in time" : terminated.error().message);
    } else {
      spdlog::warn(
          "slot {} is in use by PID {}; waiting for it to be released (or use "
          "--takeover to terminate that backend)",
          options_.slot, pid);
    }
    // While streaming, the caller's loop schedules the next attempt instead of waiting here.
    if (!wait_for_slot) return Fail(ErrorKind::kConnection, "slot " + options_.slot + " is busy");
    if (!Pause(backoff_.Next())) {
      return Fail(ErrorKind::kConnection, "stopped while waiting for slot " + options_.slot);
    }
  }
  backoff_.Reset();
  last_status_ = last_message_ = sender_moved_ = std::chrono::steady_clock::now();
  ping_sent_.reset();
  return {};
}

void Capture::Disconnected(const Error& cause, bool at_once) {
  connected_ = false;
  // A hung server learns at once that this stream is over (and frees the slot for the next).
  conn_.Close();
  assembler_.DiscardOpenTransactions();
  const auto delay = at_once ? std::chrono::milliseconds(0) : backoff_.Next();
  next_attempt_ = std::chrono::steady_clock::now() + delay;
  spdlog::warn("replication connection lost ({}); reconnecting in {} ms", cause.message,
               delay.count());
}

// Starts over from what the sinks made durable; the relation cache survives, so schema
// changes made during the outage are still detected. Transactions already handed out are
// skipped when they arrive again. One attempt: a failure schedules the next one.
Status Capture::TryReconnect() {
  auto attempt = [this]() -> Status {
    // The slot exists: its commands answer at once, unless the network is cut again.
    auto conn = ReplicationConnection::Open(options_.conninfo,
                                            {.connect_timeout_seconds = kReconnectTimeoutSeconds,
                                             .answer_timeout = std::chrono::seconds(10),
                                             .interrupt = options_.stop});
    if (!conn) return std::unexpected(conn.error());
    conn_ = std::move(*conn);
    // The catalog session most likely died with the stream (a restart ends every session),
    // even though libpq reports it as fine until its next query.
    if (auto catalog = OpenCatalog(); !catalog) return catalog;
    auto slot = conn_.EnsureSlot({.name = options_.slot, .failover = options_.failover});
    if (!slot) return std::unexpected(slot.error());
    return StartStreaming(/*wait_for_slot=*/false);
  };
  if (auto ok = attempt(); !ok) {
    if (ok.error().kind != ErrorKind::kConnection) return ok;
    const auto delay = backoff_.Next();
    next_attempt_ = std::chrono::steady_clock::now() + delay;
    spdlog::debug("reconnect failed ({}); next attempt in {} ms", ok.error().message,
                  delay.count());
    return {};
  }
  connected_ = true;
  ++stats_.reconnects;
  spdlog::info("replication resumed from {}", durable_.ToString());
  return {};
}

Status Capture::EnsureCatalog(bool interruptible) {
  return PQstatus(catalog_.get()) == CONNECTION_OK ? Status{} : OpenCatalog(interruptible);
}

Status Capture::OpenCatalog(bool interruptible) {
  auto catalog = Connection::Open(options_.conninfo,
                                  LoopConnectOptions(interruptible ? options_.stop : nullptr));
  if (!catalog) return std::unexpected(catalog.error());
  catalog_ = std::move(*catalog);
  return {};
}

bool Capture::Pause(std::chrono::milliseconds delay) const {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (!stop_requested()) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
  }
  return false;
}

Status Capture::HandleXLogData(const XLogData& data, const OnCommit& on_commit) {
  if (data.end > stats_.received) stats_.received = data.end;
  auto decoded = pgoutput::Decode(data.payload, assembler_.in_stream());
  if (!decoded) {
    return Fail(ErrorKind::kProtocol, decoded.error().message + " at WAL " + data.start.ToString());
  }
  auto committed = assembler_.Add(std::move(*decoded));
  if (!committed) return std::unexpected(committed.error());
  if (!*committed) return {};
  const TransactionInfo info = (*committed)->info();
  if (info.end_lsn <= handed_out_) return {};  // seen before a reconnect
  stats_.changes += (*committed)->change_count();
  ++stats_.transactions;
  if (auto ok = on_commit(std::move(**committed)); !ok) return ok;
  handed_out_ = info.end_lsn;
  return {};
}

Status Capture::PollOnce(std::chrono::steady_clock::time_point deadline, const OnCommit& on_commit,
                         bool& done) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_status_ >= options_.status_interval) {
    if (auto sent = SendStatus(false); !sent) return sent;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
  auto message = conn_.Receive(std::max(left, std::chrono::milliseconds(0)));
  if (!message) return std::unexpected(message.error());
  if (!*message) {
    done = true;
    return left.count() > 0 ? CheckSilence() : Status{};
  }
  last_message_ = std::chrono::steady_clock::now();
  ping_sent_.reset();
  auto event = ParseCopyData((*message)->bytes());
  if (!event) return std::unexpected(event.error());
  if (const auto* data = std::get_if<XLogData>(&*event)) return HandleXLogData(*data, on_commit);
  const Keepalive& keepalive = std::get<Keepalive>(*event);
  server_end_ = std::max(server_end_, keepalive.end);
  if (keepalive.reply_requested) return SendStatus(false);
  return {};
}

Status Capture::CheckSilence() {
  const auto now = std::chrono::steady_clock::now();
  const auto half = options_.receive_timeout / 2;
  if (now - last_message_ < half) return {};
  if (!ping_sent_) {
    // An idle server sends keepalives only every wal_sender_timeout / 2: ask for one now.
    ping_sent_ = now;
    return SendStatus(true);
  }
  if (now - *ping_sent_ < half) return {};
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - last_message_);
  return Fail(ErrorKind::kConnection,
              fmt::format("nothing arrived from PostgreSQL for {} s, not even the answer to a "
                          "keepalive request (source.receive_timeout = {} ms; a network cut or "
                          "a hung server?)",
                          seconds.count(), options_.receive_timeout.count()));
}

Status Capture::Poll(std::chrono::milliseconds timeout, const OnCommit& on_commit) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (!connected_) {
      // Waits for the next attempt only until the deadline: the caller's loop goes on.
      const auto wake = std::min(deadline, next_attempt_);
      if (!Pause(std::chrono::duration_cast<std::chrono::milliseconds>(
              wake - std::chrono::steady_clock::now()))) {
        return {};
      }
      if (std::chrono::steady_clock::now() >= next_attempt_) {
        if (auto ok = TryReconnect(); !ok) return ok;
      }
      if (!connected_) {
        if (std::chrono::steady_clock::now() >= deadline) return {};
        continue;
      }
    }
    bool done = false;
    auto ok = PollOnce(deadline, on_commit, done);
    if (!ok) {
      if (ok.error().kind != ErrorKind::kConnection) return ok;
      if (options_.temporary_slot) {
        return Wrap(ok.error(), "the temporary slot is gone with the connection");
      }
      Disconnected(ok.error(), /*at_once=*/false);
    }
    if (done || std::chrono::steady_clock::now() >= deadline) return {};
  }
}

void Capture::Confirm(Lsn end_lsn) { durable_ = std::max(durable_, end_lsn); }

Status Capture::SendStatus(bool reply) {
  if (!connected_) return Fail(ErrorKind::kConnection, "not connected to PostgreSQL");
  Lsn flush = durable_;
  // Nothing handed out is waiting for a sink and no transaction is open: everything up to
  // the server's WAL end is either confirmed or irrelevant to the publication.
  if (durable_ >= handed_out_ && assembler_.idle() && server_end_ > flush) flush = server_end_;
  if (options_.before_confirm && flush > noted_) {
    if (auto noted = options_.before_confirm(flush); noted) {
      noted_ = flush;
    } else {
      spdlog::warn("not confirming {} yet: {}", flush.ToString(), noted.error().message);
      flush = std::min(flush, noted_);
    }
  }
  last_status_ = std::chrono::steady_clock::now();
  stats_.confirmed = std::max(stats_.confirmed, flush);
  return conn_.SendStatus(std::max(stats_.received, flush), flush, reply);
}

Status Capture::Flush() { return SendStatus(false); }

Result<Lsn> Capture::DrainTarget() {
  // Every transaction committed so far lies before the flush position once a synchronous
  // commit of our own went through: with synchronous_commit = off a commit returns before
  // its record is written (and pg_current_wal_lsn() may be before it), and the insert
  // position may point past a page header the stream never reaches.
  if (!connected_) return Fail(ErrorKind::kConnection, "not connected to PostgreSQL");
  // Runs after the stop request, so not interrupted by it; bounded instead, as a stop must
  // end within ~2 s even when the network is cut. The stop may have closed the catalog
  // connection (it interrupts a lag check in flight): then a new one.
  if (auto catalog = EnsureCatalog(/*interruptible=*/false); !catalog) {
    return std::unexpected(catalog.error());
  }
  catalog_.set_interrupt(nullptr);
  catalog_.set_answer_timeout(std::chrono::seconds(1));
  for (const char* sql : {"SET synchronous_commit = on",
                          "SELECT pg_catalog.pg_logical_emit_message(true, 'walden_drain', '')"}) {
    if (auto ok = catalog_.Exec(sql); !ok) return std::unexpected(ok.error());
  }
  auto text = catalog_.QueryValue("SELECT pg_catalog.pg_current_wal_flush_lsn()");
  if (!text) return std::unexpected(text.error());
  auto lsn = Lsn::Parse(*text);
  if (!lsn) return Fail(ErrorKind::kProtocol, "unexpected WAL position \"" + *text + "\"");
  return *lsn;
}

}  // namespace walden::pg
