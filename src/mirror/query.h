// Read-only SQL over the mirror for `walden query` and the HTTP API, and consistent
// published copies for other tools (`walden mirror export`).
//
// A query is exactly one statement that DuckDB's parser and binder call a SELECT (SELECT,
// FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE); it runs in a READ ONLY transaction on a
// database walden contains (duck::Database::Contain, docs/security.md), cast to text with
// `SELECT COLUMNS(*)::VARCHAR FROM (<sql>)`, which is checked the same way. Each call uses
// its own connection: DuckDB's MVCC gives it the last committed state while merges go on.
// Thread-safety: any thread.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "duck/duckdb.h"

namespace walden::mirror {

enum class OutputFormat { kTable, kCsv, kJsonLines };
Result<OutputFormat> ParseOutputFormat(std::string_view text);

// One archived table's history: its live Parquet files (local paths).
struct HistoryTable {
  QualifiedName name;
  std::vector<std::string> files;
};

// `history` adds views history.<schema>.<table> (every change, in the archive's layout) for
// queries that name them. `catalog`: the database unqualified names resolve in (the
// mirror's name in an OpenReadOnly database); empty: the database's own.
Result<std::string> RunQuery(duck::Database& database, const std::string& sql, OutputFormat format,
                             const std::vector<HistoryTable>& history = {},
                             const std::string& catalog = "");

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
