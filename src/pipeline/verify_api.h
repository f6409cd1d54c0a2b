// POST /api/verify of `walden run` (what `walden verify` calls): runs verify::Verify on the
// mirror (or the archive, target=archive) while the stream goes on, streams one line per
// chunk (text, or JSON lines with format=json) and a last summary line, and with repair=true
// asks for an online re-read of the keys found different (of whole tables where keys cannot
// say it: no key, or too many). Counts results for /metrics, /api/status and /readyz.
// Thread-safety: VerifyStats is safe from any thread; the route's handler runs on a server
// thread per request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "common/config.h"
#include "duck/duckdb.h"
#include "server/http_server.h"
#include "verify/verify.h"

namespace walden::pipeline {

class StatusBoard;  // pipeline/status.h (which includes this header)

struct VerifyCounts {
  std::map<std::string, uint64_t> chunks;  // by result: "equal", "different", "skipped"
  int64_t last_success = 0;                // µs since 1970: the last verify with no difference
  // Tables whose latest verify found differences (cleared by an equal verify of the table).
  std::map<std::string, int64_t> different;
};

// How an archive verify inside walden run reaches the archive: durable from the status
// board, rebuilds through a store of its own into `scratch_dir` (removed by the caller).
verify::ArchiveAccess ArchiveAccessFor(const Config& config, const StatusBoard& board,
                                       std::string scratch_dir);
// A folder of its own under data_dir for one archive verify.
std::string VerifyScratch(const Config& config);

// One verify's tables so far: whether any chunk of each was different.
using VerifyRun = std::map<std::string, bool>;

class VerifyStats {
 public:
  // Counts a chunk, and notes it in `run` (the verify it belongs to; verifies may overlap).
  void Count(const verify::ChunkReport& report, VerifyRun& run);
  // A whole verify ended: its tables' latest results are `run`'s.
  void Finished(const VerifyRun& run);
  VerifyCounts Latest() const;

 private:
  mutable std::mutex mutex_;
  VerifyCounts counts_;
};

// verify.interval: every mirrored table verified in the background, one round per interval
// (the first one interval after start), counted into `stats` and logged. Stops (and
// interrupts a round between steps) when destroyed or when `stop` is set.
class VerifySchedule {
 public:
  VerifySchedule(const Config& config, duck::Database& mirror, const StatusBoard& board,
                 VerifyStats& stats, const std::atomic<bool>& stop);
  ~VerifySchedule();

 private:
  void Loop(std::stop_token token);
  const Config& config_;
  duck::Database& mirror_;
  const StatusBoard& board_;
  VerifyStats& stats_;
  const std::atomic<bool>& stop_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: started once the rest is set
};

using KeyRepairs = std::map<QualifiedName, std::vector<std::vector<std::string>>>;

// `on_snapshot`: the body of POST /api/snapshot (one table per line) → "job <id>" or why not.
// A verify in progress ends when its client goes away or `stop` is set (walden stopping).
// target=archive compares the archive (verify::Options::archive) instead of the mirror.
server::Route VerifyRoute(const Config& config, duck::Database& mirror, const StatusBoard& board,
                          VerifyStats& stats, const std::atomic<bool>& stop,
                          std::function<std::string(const std::string&)> on_snapshot,
                          std::function<std::string(KeyRepairs)> on_repair);

}  // namespace walden::pipeline
