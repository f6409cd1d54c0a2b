// Names for walden's threads, so that `top -H`, `perf report --sort comm` and
// /proc/<pid>/task/*/comm show who uses the CPU: wal-flush (archive flushes), wal-lease,
// wal-http, wal-snapshot, wal-query, duckdb (DuckDB's workers); the run loop keeps the
// process's name. Thread-safety: names the calling thread only.
#pragma once

#include <string_view>

namespace walden {

// At most 15 bytes are kept (the kernel's limit).
void SetThreadName(std::string_view name);

}  // namespace walden
