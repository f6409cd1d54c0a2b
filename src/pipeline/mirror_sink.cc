#include "pipeline/mirror_sink.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/units.h"

namespace walden::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Result<std::unique_ptr<MirrorSink>> MirrorSink::Open(MirrorSinkOptions options) {
  std::unique_ptr<MirrorSink> sink(new MirrorSink(std::move(options)));
  auto opened = mirror::Mirror::Open(sink->options_.path,
                                     {.memory_limit = sink->options_.memory_limit,
                                      .allowed_directories = sink->options_.allowed_directories});
  if (!opened) return std::unexpected(opened.error());
  sink->mirror_ = std::move(*opened);
  sink->durable_ = sink->pending_ = sink->mirror_->watermark();
  sink->last_write_ = Clock::now();
  if (const char* stall = std::getenv("WALDEN_FAULT_STALL_MIRROR_AFTER")) {
    sink->stall_at_ = Clock::now() + std::chrono::seconds(std::atoi(stall));
    spdlog::warn("fault injection: mirror merges stop after {} s", std::atoi(stall));
  }
  return sink;
}

Status MirrorSink::Define(const std::shared_ptr<const pg::RelationInfo>& relation) {
  auto& defined = defined_[relation->id];
  if (defined == relation) return {};
  mirror::TableDef def = TableDefOf(*relation);
  if (auto ok = mirror_->Define(def); !ok) return ok;
  defined = relation;
  defs_[relation->id] = std::move(def);
  return {};
}

Status MirrorSink::AddChange(const pg::TransactionInfo& info, int64_t seq,
                             const pg::Change& change) {
  using Kind = pg::Change::Kind;
  switch (change.kind) {
    case Kind::kTruncate:
      for (const auto& relation : change.truncated) {
        if (auto ok = mirror_->Truncate(relation->id); !ok) return ok;
      }
      return {};
    case Kind::kSchemaChange:
      return Define(change.relation);
    case Kind::kRefillDone:
      return mirror_->Promote(change.relation->id);
    case Kind::kReset:
    case Kind::kRefillStart: {
      mirror::TableDef def = TableDefOf(*change.relation);
      if (auto ok = mirror_->Reset(def, change.kind == Kind::kRefillStart); !ok) return ok;
      defined_[change.relation->id] = change.relation;
      defs_[change.relation->id] = std::move(def);
      return {};
    }
    case Kind::kMessage:
      canaries_.Offer(change.prefix, change.content);
      return {};
    default:
      break;
  }
  if (auto ok = Define(change.relation); !ok) return ok;
  const mirror::TableDef& def = defs_.at(change.relation->id);
  std::vector<std::optional<Datum>> values;
  if (change.kind != Kind::kDelete) {
    auto row = pg::ParseTuple(*change.relation, change.new_tuple);
    if (!row) return std::unexpected(row.error());
    values = std::move(*row);
  }
  std::vector<Datum> before;
  if (change.old_kind) {
    auto old = pg::ParseTuple(*change.relation, change.old_tuple);
    if (!old) return std::unexpected(old.error());
    const mirror::MatchMode mode = def.mode();
    for (size_t i = 0; i < old->size(); ++i) {
      if (mode == mirror::MatchMode::kKey && !def.columns[i].key) continue;
      before.push_back((*old)[i] ? std::move(*(*old)[i]) : Datum(Null{}));
    }
    if (mode == mirror::MatchMode::kAppendOnly) before.clear();
  }
  const char op = change.kind == Kind::kInsert   ? 'c'
                  : change.kind == Kind::kRead   ? 'r'
                  : change.kind == Kind::kUpdate ? 'u'
                                                 : 'd';
  return mirror_->Add(
      change.relation->id,
      {.op = op, .lsn = info.commit_lsn.value, .seq = seq, .values = values, .before = before});
}

Status MirrorSink::Apply(const pg::CommittedTransaction& txn) {
  const pg::TransactionInfo& info = txn.info();
  if (info.commit_lsn <= mirror_->watermark().commit_lsn) return {};  // merged before a restart
  if (!mirror_->has_pending()) first_pending_ = Clock::now();
  const int64_t staged_before = mirror_->pending_changes();
  int64_t seq = 0;
  if (auto ok =
          txn.ForEach([&](const pg::Change& change) { return AddChange(info, seq++, change); });
      !ok) {
    return ok;
  }
  Staged(info, mirror_->pending_changes() > staged_before);
  return {};
}

void MirrorSink::Staged(const pg::TransactionInfo& info, bool added) {
  pending_ = {info.commit_lsn, info.end_lsn, PgTimeToUnixMicros(info.commit_time)};
  if (added) pending_commit_times_.push_back(pending_.commit_time);
  if (!mirror_->has_pending()) {
    durable_ = pending_;  // nothing of it is mirrored: replaying it changes nothing
  }
}

Status MirrorSink::ApplyBulk(const pg::TransactionInfo& info,
                             const std::shared_ptr<const pg::RelationInfo>& relation,
                             std::string select_sql) {
  if (info.commit_lsn <= mirror_->watermark().commit_lsn) return {};  // merged before a restart
  if (!mirror_->has_pending()) first_pending_ = Clock::now();
  if (auto ok = Define(relation); !ok) return ok;
  if (auto ok = mirror_->Load(relation->id, std::move(select_sql)); !ok) return ok;
  Staged(info, true);
  return {};
}

Status MirrorSink::FlushIfDue() {
  const auto now = Clock::now();
  if (stall_at_ && now >= *stall_at_) return {};
  // Heartbeats with nothing to merge are visible at once: the mirror has all before them.
  if (!mirror_->has_pending() && canaries_.waiting()) return Flush();
  if (mirror_->has_pending()) {
    // A merge costs about the same for 50 changes as for 5,000: when merges take longer than
    // the interval (a backlog after a restart, a loaded machine), waiting as long as the last
    // merge took keeps at least half the loop for receiving and lets batches grow until the
    // pipeline outruns the source again.
    if (now - first_pending_ < std::max<Clock::duration>(options_.apply_interval, last_cost_)) {
      return {};
    }
    return Flush();
  }
  // Keep the file's watermark near the source's while only unmirrored transactions pass.
  if (mirror_->watermark().commit_lsn != durable_.commit_lsn &&
      now - last_write_ > std::chrono::seconds(1)) {
    return Flush();
  }
  return {};
}

Status MirrorSink::Flush() {
  if (!mirror_->has_pending() && mirror_->watermark().commit_lsn == pending_.commit_lsn) {
    durable_ = pending_;
    canaries_.Durable();
    return {};
  }
  const auto started = Clock::now();
  if (auto ok = mirror_->Commit(pending_); !ok) return ok;
  last_write_ = Clock::now();
  last_cost_ = last_write_ - started;
  merge_duration_.Observe(std::chrono::duration<double>(last_cost_).count());
  durable_ = pending_;
  const int64_t now = UnixNowMicros();
  last_merge_ = now;
  for (int64_t commit_time : pending_commit_times_) {
    latency_.Observe(static_cast<double>(now - commit_time) / 1e6);
    if (options_.on_visible) options_.on_visible(commit_time, now);
  }
  pending_commit_times_.clear();
  canaries_.Durable();
  return {};
}

}  // namespace walden::pipeline
