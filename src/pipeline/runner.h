// `walden run`: the one place where the exactly-once protocol lives (design §1, §2).
//
// Capture hands over committed transactions in commit order; each enabled sink applies
// those above its own durable watermark; PostgreSQL is told `flush = min(sink watermarks)`
// only after every sink made everything up to it durable. A stop request flushes every
// sink, confirms and returns. Thread-safety: Run blocks the calling thread; `stop` may be
// set from a signal handler.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "common/config.h"
#include "common/error.h"
#include "pipeline/http_api.h"

namespace walden::pipeline {

class MirrorSink;
class StatusBoard;

// What a caller embedding Run (walden demo) sees on every round of the run loop, on the
// loop's thread: the published status and the mirror sink (for its latency and queries).
struct RunView {
  const StatusBoard& board;
  MirrorSink& mirror;
};
using OnRound = std::function<void(const RunView&)>;

// `lock_fd`: the data directory's lock (LockDataDir) when the caller already holds it (the
// resync command, so that nothing slips in between its preparation and the run); Run
// closes it. -1: Run takes the lock itself.
Status Run(const Config& config, const std::atomic<bool>& stop, const OnRound& on_round = nullptr,
           int lock_fd = -1);

// Takes the data directory's exclusive lock (one walden per data directory); returns the
// descriptor to keep open, or a kUsage error saying another walden runs there.
Result<int> LockDataDir(const std::string& data_dir);

}  // namespace walden::pipeline
