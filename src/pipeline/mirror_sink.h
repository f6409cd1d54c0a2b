// The mirror sink: committed transactions in, merged into the DuckDB mirror every
// `apply_interval` together with the mirror's watermark (design §2, §4). When a merge takes
// longer than the interval, the next one waits as long as the last one took (docs/mirror.md
// "Catching up"), so a backlog is merged in growing batches instead of starving the receive.
//
// Exactly once: a transaction whose commit LSN is at or below the mirror's watermark was
// merged before a restart and is skipped. A transaction is durable for the mirror once the
// merge that contains it committed (or, having no mirrored change, once nothing before it
// is pending). Commit→visible latency of every merged transaction goes to `latency()`.
// Thread-safety: one thread drives it; `latency()` may be read from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "change/change.h"
#include "common/histogram.h"
#include "mirror/mirror.h"
#include "pipeline/canary.h"
#include "pipeline/sink.h"

namespace walden::pipeline {

struct MirrorSinkOptions {
  std::string path;
  std::chrono::microseconds apply_interval{50000};
  std::string memory_limit = "64MB";  // mirror.memory_limit's default
  // Contains the mirror's database to these directories (mirror::MirrorOptions).
  std::optional<std::vector<std::string>> allowed_directories;
  // Called per merged transaction with its source commit time and the time the merge made
  // it visible (µs since 1970), e.g. for exact percentiles in benchmarks.
  std::function<void(int64_t commit_us, int64_t visible_us)> on_visible;
};

class MirrorSink final : public Sink {
 public:
  static Result<std::unique_ptr<MirrorSink>> Open(MirrorSinkOptions options);

  std::string_view name() const override { return "mirror"; }

  Lsn durable_end() const override { return durable_.end_lsn; }
  mirror::Mirror& mirror() { return *mirror_; }
  Histogram& latency() { return latency_; }
  Histogram& merge_duration() { return merge_duration_; }
  int64_t last_merge() const { return last_merge_; }  // µs since 1970; 0: none yet

  bool Begin(const change::TransactionInfo& txn) override;
  Status Add(const change::Change& change) override;
  void Commit() override;
  // One source transaction of `r` rows of `table`, given as a DuckDB SELECT of its
  // columns in order: inserted at the next merge, without merging (mirror::Mirror::Load).
  // Only for initial-load chunks of a table whose copy cannot hold these rows yet.
  Status ApplyBulk(const change::TransactionInfo& info,
                   const std::shared_ptr<const change::TableDef>& table, std::string select_sql);
  // Heartbeats seen in transactions since the last call, and those a merge made visible.
  CanaryRelay& canaries() override { return canaries_; }
  bool Due() const override;
  Status FlushIfDue() override;
  Status Flush() override;

 private:
  explicit MirrorSink(MirrorSinkOptions options) : options_(std::move(options)) {}
  Status Define(const std::shared_ptr<const change::TableDef>& table);
  // Bookkeeping after a transaction was staged (`added`: it staged changes).
  void Staged(const change::TransactionInfo& info, bool added);

  MirrorSinkOptions options_;
  std::unique_ptr<mirror::Mirror> mirror_;
  mirror::MirrorWatermark durable_;
  mirror::MirrorWatermark pending_;
  std::vector<int64_t> pending_commit_times_;  // µs since 1970, one per staged transaction
  std::chrono::steady_clock::time_point first_pending_{};
  std::chrono::steady_clock::time_point last_write_{};
  std::chrono::steady_clock::duration last_cost_{};  // of the last merge
  // The definition each table's staged changes use, by relation id.
  std::map<uint32_t, std::shared_ptr<const change::TableDef>> defined_;
  change::TransactionInfo txn_;  // the one between Begin and Commit
  int64_t staged_before_ = 0;
  Histogram latency_;
  Histogram merge_duration_;
  CanaryRelay canaries_;
  // Fault injection for tests (WALDEN_FAULT_STALL_MIRROR_AFTER=<seconds>): merges stop.
  std::optional<std::chrono::steady_clock::time_point> stall_at_;
  int64_t last_merge_ = 0;
};

}  // namespace walden::pipeline
