// Snapshot work of `walden run` besides the initial load (design §5): requests from the
// HTTP API (`walden snapshot`), tables the mirror stopped following (rewritten by DDL),
// captured tables it has never seen and a first start on an existing slot become jobs of
// the online snapshot engine, which the run loop ticks one chunk at a time.
// Thread-safety: Queue is called from HTTP threads and waits for the loop; everything else
// runs on the loop's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "common/lsn.h"
#include "mirror/mirror.h"
#include "pg/connection.h"
#include "snapshot/online.h"

namespace walden::pipeline {

class SnapshotControl {
 public:
  // `everything`: new sinks on an existing slot, so every published table is read first.
  // `stop`: a raised stop request ends a wait for the server at once.
  SnapshotControl(const Config& config, std::unique_ptr<snapshot::OnlineSnapshot> engine,
                  bool everything, const std::atomic<bool>* stop)
      : config_(config), engine_(std::move(engine)), everything_(everything), stop_(stop) {}

  // Takes "schema.table" lines (or "*" for every published table) from POST /api/snapshot
  // to the run loop; returns "job <id>" once it is queued there, else why not.
  std::string Queue(const std::string& body);
  // Repairs of single keys (snapshot::OnlineSnapshot::RequestKeys; walden verify --repair),
  // by table: "job <id>" once queued, else why not.
  using KeyRepairs = std::map<QualifiedName, std::vector<std::vector<std::string>>>;
  std::string QueueKeys(KeyRepairs repairs);
  // Turns requests and the once-a-second scan of the publication into jobs, then reads the
  // next chunk if none is in flight. kConnection: PostgreSQL is away, try again later.
  Status Step(const mirror::Mirror& mirror, Lsn durable);
  // Every committed transaction passes here before the sinks (watermarks, chunk windows).
  Status Observe(pg::CommittedTransaction& txn) { return engine_->Observe(txn); }
  snapshot::Progress progress() const { return engine_->progress(); }
  // Whether the last scan found `table` published; nullopt before the first scan (and with
  // snapshot.mode never, which scans nothing). Any thread.
  std::optional<bool> Published(const QualifiedName& table) const {
    std::lock_guard lock(mutex_);
    if (!scanned_) return std::nullopt;
    return published_.contains(table);
  }

 private:
  struct Request {
    std::vector<TableSelector> selectors;   // empty: every published table
    KeyRepairs keys;                        // set: these keys only (selectors unused)
    std::promise<Result<std::string>> job;  // the job id that takes it, or why none does
  };

  // Hands a request to the run loop and waits until it is queued there.
  std::string Submit(Request request);
  // Queues a request's tables, or its keys; sets its job.
  Status Take(Request& request, const std::vector<QualifiedName>& published);

  const Config& config_;
  std::unique_ptr<snapshot::OnlineSnapshot> engine_;
  bool everything_;
  const std::atomic<bool>* stop_;
  std::unique_ptr<pg::Connection> catalog_;  // the once-a-second table scan's
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::set<QualifiedName> published_;  // the last scan's, under mutex_
  bool scanned_ = false;
  std::set<QualifiedName> auto_requested_;  // captured tables the mirror had not seen
  // Automatic snapshots of tables the mirror stopped following, by table.
  static constexpr int kMaxAutomaticSnapshots = 3;
  std::map<QualifiedName, int> resync_requests_;
  std::chrono::steady_clock::time_point last_scan_{};
};

}  // namespace walden::pipeline
