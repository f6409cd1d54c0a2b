#include "pg/assembler.h"

#include <fmt/core.h>
#include <unistd.h>

#include "pg/transaction_buffer.h"

namespace walden::pg {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;  // clang 16 (fuzz build) needs the guide

std::unexpected<Error> OutOfOrder(std::string_view what) {
  return Fail(ErrorKind::kProtocol, "pgoutput stream out of order: " + std::string(what));
}

}  // namespace

CommittedTransaction::CommittedTransaction(TransactionInfo info,
                                           std::unique_ptr<TransactionBuffer> buffer)
    : info_(info), buffer_(std::move(buffer)) {}
CommittedTransaction::CommittedTransaction(CommittedTransaction&&) noexcept = default;
CommittedTransaction& CommittedTransaction::operator=(CommittedTransaction&&) noexcept = default;
CommittedTransaction::~CommittedTransaction() = default;

CommittedTransaction::CommittedTransaction(TransactionInfo info, std::vector<Change> changes)
    : info_(info),
      buffer_(std::make_unique<TransactionBuffer>(info.xid)),
      appended_(std::move(changes)) {}

size_t CommittedTransaction::change_count() const {
  return prepended_.size() + buffer_->count() + appended_.size();
}

Status CommittedTransaction::ForEach(const std::function<Status(const Change&)>& visit) const {
  for (const Change& change : prepended_) {
    if (auto ok = visit(change); !ok) return ok;
  }
  if (auto ok = buffer_->ForEach(visit); !ok) return ok;
  for (const Change& change : appended_) {
    if (auto ok = visit(change); !ok) return ok;
  }
  return {};
}

void CommittedTransaction::Prepend(std::vector<Change> changes) {
  prepended_.insert(prepended_.end(), std::make_move_iterator(changes.begin()),
                    std::make_move_iterator(changes.end()));
}

void CommittedTransaction::Append(std::vector<Change> changes) {
  appended_.insert(appended_.end(), std::make_move_iterator(changes.begin()),
                   std::make_move_iterator(changes.end()));
}

Assembler::Assembler(AssemblerOptions options)
    : options_(std::move(options)), relations_(options_.type_lookup, options_.relation_lookup) {}
Assembler::~Assembler() = default;

void Assembler::DiscardOpenTransactions() {
  current_.reset();
  streams_.clear();
  stream_relations_.clear();
  in_stream_ = false;
  buffered_bytes_ = 0;
}

Result<TransactionBuffer*> Assembler::Target(std::optional<uint32_t> xid) {
  if (in_stream_) {
    if (!xid) return OutOfOrder("streamed change without xid");
    auto it = streams_.find(stream_xid_);
    if (it == streams_.end()) return OutOfOrder("change in a stream that was aborted");
    return it->second.get();
  }
  if (!current_) return OutOfOrder("change outside a transaction");
  return current_.get();
}

Status Assembler::Append(std::optional<uint32_t> xid, Change change) {
  auto target = Target(xid);
  if (!target) return std::unexpected(target.error());
  change.xid = xid.value_or((*target)->xid());
  buffered_bytes_ += (*target)->Add(std::move(change));
  return SpillIfNeeded();
}

Status Assembler::SpillIfNeeded() {
  while (buffered_bytes_ > options_.memory_limit) {
    TransactionBuffer* largest = current_.get();
    for (auto& [xid, buffer] : streams_) {
      if (!largest || buffer->memory_bytes() > largest->memory_bytes()) largest = buffer.get();
    }
    if (!largest || largest->memory_bytes() == 0) return {};
    const size_t freed = largest->memory_bytes();
    const std::string path = fmt::format("{}/spill-{}-{}-{}.bin", options_.spill_dir, getpid(),
                                         largest->xid(), spill_sequence_++);
    auto written = largest->Spill(path);
    if (!written) return std::unexpected(written.error());
    buffered_bytes_ -= freed;
    spilled_bytes_ += *written;
  }
  return {};
}

RelationCache& Assembler::Relations(bool for_update) {
  if (!in_stream_) return relations_;
  auto it = stream_relations_.find(stream_xid_);
  if (it == stream_relations_.end()) {
    if (!for_update) return relations_;
    it = stream_relations_.emplace(stream_xid_, StreamRelations{relations_, {}}).first;
  }
  return it->second.cache;
}

void Assembler::EndStream(uint32_t xid, bool committed) {
  auto it = stream_relations_.find(xid);
  if (it == stream_relations_.end()) return;
  // Committed, its definitions are the current ones (PostgreSQL sends them again anyway).
  if (committed) {
    for (uint32_t id : it->second.redefined) relations_.Adopt(it->second.cache, id);
  }
  stream_relations_.erase(it);
}

Result<std::optional<CommittedTransaction>> Assembler::OnRelation(
    const pgoutput::Relation& message) {
  auto update = Relations(true).Update(message);
  if (!update) return std::unexpected(update.error());
  RelationCache::UpdateResult& updated = *update;
  if (in_stream_) stream_relations_[stream_xid_].redefined.insert(message.relation_id);
  if (!updated.change) return std::nullopt;
  // A schema change travels with the transaction that first uses the new definition, so
  // sinks apply it in order.
  if (!in_stream_ && !current_) return std::nullopt;
  Change change{.kind = Change::Kind::kSchemaChange, .relation = updated.relation};
  change.schema_change = std::move(*updated.change);
  if (auto ok = Append(message.xid, std::move(change)); !ok) return std::unexpected(ok.error());
  return std::nullopt;
}

Result<std::optional<CommittedTransaction>> Assembler::Add(pgoutput::Decoded message) {
  using Out = Result<std::optional<CommittedTransaction>>;
  auto relation = [&](uint32_t id) -> Result<std::shared_ptr<const RelationInfo>> {
    auto rel = Relations(false).Find(id);
    if (!rel) return OutOfOrder(fmt::format("change for relation {} before its Relation", id));
    return rel;
  };
  auto append_change = [&](std::optional<uint32_t> xid, uint32_t relation_id,
                           Change change) -> Out {
    auto rel = relation(relation_id);
    if (!rel) return std::unexpected(rel.error());
    change.relation = *rel;
    if (auto ok = Append(xid, std::move(change)); !ok) return std::unexpected(ok.error());
    return std::nullopt;
  };
  return std::visit(
      Overloaded{
          [&](pgoutput::Begin& m) -> Out {
            if (current_ || in_stream_) return OutOfOrder("Begin inside a transaction");
            current_ = std::make_unique<TransactionBuffer>(m.xid);
            current_info_ = TransactionInfo{.xid = m.xid, .commit_time = m.commit_time};
            return std::nullopt;
          },
          [&](pgoutput::Commit& m) -> Out {
            if (!current_) return OutOfOrder("Commit without Begin");
            current_info_.commit_lsn = m.commit_lsn;
            current_info_.end_lsn = m.end_lsn;
            current_info_.commit_time = m.commit_time;
            buffered_bytes_ -= current_->memory_bytes();
            return CommittedTransaction(current_info_, std::move(current_));
          },
          [&](pgoutput::Relation& m) -> Out { return OnRelation(m); },
          [&](pgoutput::Type& m) -> Out {
            Relations(true).UpdateType(m);
            return std::nullopt;
          },
          [&](pgoutput::Insert& m) -> Out {
            return append_change(
                m.xid, m.relation_id,
                Change{.kind = Change::Kind::kInsert, .new_tuple = std::move(m.new_tuple)});
          },
          [&](pgoutput::Update& m) -> Out {
            return append_change(m.xid, m.relation_id,
                                 Change{.kind = Change::Kind::kUpdate,
                                        .old_kind = m.old_kind,
                                        .old_tuple = std::move(m.old_tuple),
                                        .new_tuple = std::move(m.new_tuple)});
          },
          [&](pgoutput::Delete& m) -> Out {
            return append_change(m.xid, m.relation_id,
                                 Change{.kind = Change::Kind::kDelete,
                                        .old_kind = m.old_kind,
                                        .old_tuple = std::move(m.old_tuple)});
          },
          [&](pgoutput::Truncate& m) -> Out {
            Change change{.kind = Change::Kind::kTruncate, .truncate_options = m.options};
            for (uint32_t id : m.relation_ids) {
              auto rel = relation(id);
              if (!rel) return std::unexpected(rel.error());
              change.truncated.push_back(*rel);
            }
            if (auto ok = Append(m.xid, std::move(change)); !ok) {
              return std::unexpected(ok.error());
            }
            return std::nullopt;
          },
          [&](pgoutput::Message& m) -> Out {
            // Non-transactional messages are not part of any transaction's history.
            if (!m.transactional) return std::nullopt;
            if (auto ok = Append(m.xid, Change{.kind = Change::Kind::kMessage,
                                               .prefix = std::move(m.prefix),
                                               .content = std::move(m.content)});
                !ok) {
              return std::unexpected(ok.error());
            }
            return std::nullopt;
          },
          [&](pgoutput::StreamStart& m) -> Out {
            if (in_stream_ || current_) return OutOfOrder("Stream Start inside a transaction");
            in_stream_ = true;
            stream_xid_ = m.xid;
            auto& buffer = streams_[m.xid];
            if (!buffer) buffer = std::make_unique<TransactionBuffer>(m.xid);
            return std::nullopt;
          },
          [&](pgoutput::StreamStop&) -> Out {
            if (!in_stream_) return OutOfOrder("Stream Stop without Stream Start");
            in_stream_ = false;
            return std::nullopt;
          },
          [&](pgoutput::StreamCommit& m) -> Out {
            auto it = streams_.find(m.xid);
            if (in_stream_ || it == streams_.end()) {
              return OutOfOrder(fmt::format("Stream Commit for unknown transaction {}", m.xid));
            }
            std::unique_ptr<TransactionBuffer> buffer = std::move(it->second);
            streams_.erase(it);
            EndStream(m.xid, /*committed=*/true);
            buffered_bytes_ -= buffer->memory_bytes();
            return CommittedTransaction(
                TransactionInfo{m.xid, m.commit_lsn, m.end_lsn, m.commit_time, true},
                std::move(buffer));
          },
          [&](pgoutput::StreamAbort& m) -> Out {
            if (in_stream_) return OutOfOrder("Stream Abort inside a stream block");
            auto it = streams_.find(m.xid);
            if (m.subxid == m.xid) EndStream(m.xid, /*committed=*/false);
            if (it == streams_.end()) return std::nullopt;  // nothing was streamed for it
            if (m.subxid == m.xid) {
              buffered_bytes_ -= it->second->memory_bytes();
              streams_.erase(it);
            } else {
              buffered_bytes_ -= it->second->AbortSubtransaction(m.subxid);
            }
            return std::nullopt;
          },
          [&](pgoutput::Origin&) -> Out { return std::nullopt; },
          [&](auto&) -> Out {
            return Fail(ErrorKind::kUnsupported,
                        "two-phase commit messages arrived, but walden does not enable "
                        "two_phase; check the slot was created by walden");
          },
      },
      message);
}

}  // namespace walden::pg
