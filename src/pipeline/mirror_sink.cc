#include "pipeline/mirror_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "common/units.h"

namespace walden::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Result<std::unique_ptr<MirrorSink>> MirrorSink::Open(MirrorSinkOptions options) {
  std::unique_ptr<MirrorSink> sink(new MirrorSink(std::move(options)));
  const char* out_of_memory = std::getenv("WALDEN_FAULT_MIRROR_OUT_OF_MEMORY");
  auto opened = mirror::Mirror::Open(
      sink->options_.path,
      {.memory_limit = sink->options_.memory_limit,
       .allowed_directories = sink->options_.allowed_directories,
       .fault_out_of_memory_below_parts = out_of_memory ? std::atoi(out_of_memory) : 0});
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

Status MirrorSink::Define(const std::shared_ptr<const change::TableDef>& table) {
  auto& defined = defined_[table->relation_id];
  if (defined == table) return {};
  if (auto ok = mirror_->Define(*table); !ok) return ok;
  defined = table;
  return {};
}

Status MirrorSink::Add(const change::Change& change) {
  using change::Op;
  switch (change.op) {
    case Op::kTruncate:
      for (const auto& table : change.truncated) {
        if (auto ok = mirror_->Truncate(table->relation_id); !ok) return ok;
      }
      return {};
    case Op::kSchemaChange:
      return Define(change.table);
    case Op::kRefillDone:
      return mirror_->Promote(change.table->relation_id);
    case Op::kReset:
    case Op::kRefillStart:
      if (auto ok = mirror_->Reset(*change.table, change.op == Op::kRefillStart); !ok) return ok;
      defined_[change.table->relation_id] = change.table;
      return {};
    case Op::kMessage:
      canaries_.Offer(change.prefix, change.content);
      return {};
    case Op::kInsert:
    case Op::kUpdate:
    case Op::kDelete:
    case Op::kRead:
      break;
  }
  if (auto ok = Define(change.table); !ok) return ok;
  const change::TableDef& def = *change.table;
  // A compacted topic's current state has keyed messages only (as Kafka's compaction).
  if (def.compacted && std::ranges::all_of(def.KeyIndexes(), [&](size_t i) {
        return i >= change.row.size() || !change.row[i] || change.row[i]->is_null();
      })) {
    return {};
  }
  const bool is_delete = change.op == Op::kDelete;
  std::vector<Datum> before;
  const change::Row& old = is_delete ? change.row : change.before;
  if (change.old_image != change::OldImage::kNone && def.mode() != change::MatchMode::kAppendOnly) {
    const bool key_only = def.mode() == change::MatchMode::kKey;
    for (size_t i = 0; i < old.size(); ++i) {
      if (key_only && !def.columns[i].key) continue;
      before.push_back(old[i] ? *old[i] : Datum(Null{}));
    }
  }
  return mirror_->Add(def.relation_id,
                      {.op = change::OpCode(change.op),
                       .lsn = txn_.commit_lsn.value,
                       .seq = change.seq,
                       .values = is_delete ? std::span<const std::optional<Datum>>()
                                           : std::span<const std::optional<Datum>>(change.row),
                       .before = before});
}

bool MirrorSink::Begin(const change::TransactionInfo& txn) {
  if (txn.commit_lsn <= mirror_->watermark().commit_lsn) return false;  // merged before a restart
  if (!mirror_->has_pending()) first_pending_ = Clock::now();
  txn_ = txn;
  staged_before_ = mirror_->pending_changes();
  return true;
}

void MirrorSink::Commit() { Staged(txn_, mirror_->pending_changes() > staged_before_); }

void MirrorSink::Staged(const change::TransactionInfo& info, bool added) {
  pending_ = {info.commit_lsn, info.end_lsn, info.commit_time};
  if (added) pending_commit_times_.push_back(pending_.commit_time);
  // A transaction the mirror kept nothing of (a table a snapshot will load, keyless topic
  // messages) is durable only once the file's watermark passed it (FlushIfDue keeps that
  // within a second): walden's confirmed position never passes the file's, which is how a
  // start tells an older mirror file put back from one that merely skipped changes.
}

Status MirrorSink::ApplyBulk(const change::TransactionInfo& info,
                             const std::shared_ptr<const change::TableDef>& table,
                             std::string select_sql) {
  if (info.commit_lsn <= mirror_->watermark().commit_lsn) return {};  // merged before a restart
  if (!mirror_->has_pending()) first_pending_ = Clock::now();
  if (auto ok = Define(table); !ok) return ok;
  if (auto ok = mirror_->Load(table->relation_id, std::move(select_sql)); !ok) return ok;
  Staged(info, true);
  return {};
}

bool MirrorSink::Due() const {
  const auto now = Clock::now();
  if (stall_at_ && now >= *stall_at_) return false;
  if (!mirror_->has_pending()) return canaries_.waiting();
  return now - first_pending_ >= std::max<Clock::duration>(options_.apply_interval, last_cost_);
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
  if (mirror_->watermark().commit_lsn != pending_.commit_lsn &&
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
