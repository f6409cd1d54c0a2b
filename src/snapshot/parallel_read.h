// The initial load's readers: `workers` connections import one exported snapshot and COPY
// chunks in parallel (as tuples, or as CSV files for the fast path); the calling thread
// receives whole chunks in task order, with about `workers` chunks waiting (bounded memory).
// Only ACCESS SHARE locks are taken.
// Thread-safety: ReadParallel owns its threads; `after_read` runs on the reader's thread,
// `on_chunk` on the calling thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "pg/pgoutput.h"
#include "snapshot/source.h"

namespace walden::snapshot {

struct ReadTask {
  const SourceTable* table = nullptr;
  const Chunk* chunk = nullptr;
  size_t id = 0;  // the caller's
  // Not empty: the chunk goes to this file as CSV (snapshot/bulk.h), not into `rows`.
  std::string csv_path;
};
struct ReadChunkResult {
  size_t id = 0;
  std::vector<pg::pgoutput::Tuple> rows;
  std::string csv_path;  // the task's
  int64_t csv_bytes = 0;
};

// Work a reader does on a chunk it read before handing it over (`worker`: 0..workers-1).
using AfterRead = std::function<Status(int worker, const ReadTask& task, ReadChunkResult& chunk)>;

// Stops at the first error (a reader's, `after_read`'s or `on_chunk`'s) and returns it.
Status ReadParallel(const std::string& conninfo, const std::string& snapshot_name, int workers,
                    const std::vector<ReadTask>& tasks,
                    const std::function<Status(ReadChunkResult&&)>& on_chunk,
                    const AfterRead& after_read = nullptr);

}  // namespace walden::snapshot
