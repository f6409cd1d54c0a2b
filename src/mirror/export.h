// Consistent published copies of the mirror for other tools (`walden mirror export`), and
// the read-only database `walden query` uses while no walden runs.
// Thread-safety: any thread; each call uses its own connection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "duck/duckdb.h"

namespace walden::mirror {

// A database for queries over the mirror file at `path` while no walden runs: an in-memory
// DuckDB with the file attached READ_ONLY under its usual catalog name (MirrorCatalog),
// contained to `allowed_directories`, settings locked.
Result<duck::Database> OpenReadOnly(const std::string& path,
                                    const std::vector<std::string>& allowed_directories);

std::string MirrorCatalog(const std::string& path);

enum class ExportFormat { kDuckDb, kParquet };
Result<ExportFormat> ParseExportFormat(std::string_view text);

// Writes a consistent copy of every mirror table (and walden's state) to `path`: a new
// DuckDB file, or a directory of Parquet files (DuckDB's EXPORT DATABASE layout). The copy
// is built at `<path>.partial` and appears under `path` only once complete. An existing
// `path` is refused unless `replace`; an existing `<path>.partial` is always refused:
// walden removes only what it created itself.
Status Export(duck::Database& database, const std::string& path, ExportFormat format,
              bool replace = false);

// Where an export asked for through the HTTP API goes: `requested` (absolute, or relative
// to `export_dir`) when it lies inside `export_dir` (created if missing), else an error.
Result<std::string> ExportTarget(const std::string& export_dir, const std::string& requested);

}  // namespace walden::mirror
