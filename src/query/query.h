// Read-only SQL over the mirror for `walden query` and the HTTP API.
//
// A query is exactly one statement that DuckDB's parser and binder call a SELECT (SELECT,
// FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE); it runs in a READ ONLY transaction on a
// database walden contains (duck::Database::Contain, docs/security.md), cast to text with
// `SELECT COLUMNS(*)::VARCHAR FROM (<sql>)`, which is checked the same way. Each call uses
// its own connection: DuckDB's MVCC gives it the last committed state while merges go on.
// Bounded: the result streams from DuckDB and stops at `max_bytes` of output; a query
// running longer than `timeout`, or whose caller cancels it, is interrupted. Thread-safety: any
// thread.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "duck/duckdb.h"

namespace walden::query {

enum class OutputFormat { kTable, kCsv, kJsonLines };
Result<OutputFormat> ParseOutputFormat(std::string_view text);

// One archived table's history: its live Parquet files (local paths).
struct HistoryTable {
  QualifiedName name;
  std::vector<std::string> files;
};

// A table of walden's own state, queryable as walden_status.<name>: values in text form,
// cast to each column's DuckDB type; nullopt is NULL.
struct StatusTable {
  std::string name;
  std::vector<std::pair<std::string, std::string>> columns;  // name, DuckDB type
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// A table's state rebuilt from the archive as of a point (a mirror-layout DuckDB file), for
// walden_as_of(…) in the query.
struct AsOfTable {
  std::string path;
  QualifiedName table;
};

struct QueryOptions {
  // Views history.<schema>.<table> (every change, in the archive's layout).
  std::vector<HistoryTable> history;
  // The table macro walden_as_of(table, at) answers with this state.
  std::optional<AsOfTable> as_of;
  // walden_status.<table>: refreshed in the database before the query when they changed.
  std::vector<StatusTable> status;
  // The database unqualified names resolve in (the mirror's name in an OpenReadOnly
  // database); empty: the database's own.
  std::string catalog;
  size_t max_bytes = size_t{64} << 20;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // Asked every 100 ms while the query runs: true stops it (the HTTP client went away).
  std::function<bool()> cancelled;
};

Result<std::string> RunQuery(duck::Database& database, const std::string& sql, OutputFormat format,
                             const QueryOptions& options = {});

}  // namespace walden::query
