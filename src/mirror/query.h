// Read-only SQL over the mirror for `walden query` and the HTTP API, and consistent
// published copies for other tools (`walden mirror export`).
//
// Queries run wrapped as `SELECT COLUMNS(*)::VARCHAR FROM (<sql>)`: only statements that
// produce rows (SELECT, DESCRIBE, SHOW, SUMMARIZE, ...) pass, so a query cannot change the
// mirror, and every type has a text form. Each call uses its own connection: DuckDB's MVCC
// gives it the last committed state while merges go on. Thread-safety: any thread.
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
// queries that name them.
Result<std::string> RunQuery(duck::Database& database, const std::string& sql, OutputFormat format,
                             const std::vector<HistoryTable>& history = {});

enum class ExportFormat { kDuckDb, kParquet };
Result<ExportFormat> ParseExportFormat(std::string_view text);

// Writes a consistent copy of every mirror table (and walden's state) to `path`: a new
// DuckDB file, or a directory of Parquet files (DuckDB's EXPORT DATABASE layout). The copy
// appears under `path` only once complete; an existing `path` is refused.
Status Export(duck::Database& database, const std::string& path, ExportFormat format);

}  // namespace walden::mirror
