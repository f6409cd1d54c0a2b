// The SQL behind Mirror: creating and altering mirror tables, and merging one stage table
// into its mirror table. Internal to the mirror module.
//
// A stage table holds one table's changes in order: _rid (staging order), _op, _lsn, _seq,
// _unch ('1' at the position of each unchanged-TOAST column, else NULL), _prev, the table's
// columns as c0..cN, and the old key (or the old row for full-row tables) as b0..bM.
// Thread-safety: callers hold the connection.
#pragma once

#include <cstdint>
#include <string>

#include "change/table_def.h"
#include "common/error.h"
#include "duck/duckdb.h"

namespace walden::mirror::internal {

struct StageRef {
  std::string table;  // the temporary stage table's name
  const change::TableDef* def = nullptr;
  bool has_unchanged = false;
  int64_t rows = 0;  // staged changes
  // Keyed merges run in this many parts by key hash: less memory at once (a retry after
  // DuckDB ran out of its memory limit).
  int parts = 1;
};

struct MergeCounts {
  int64_t unmatched = 0;   // updates/deletes whose old row the mirror did not hold
  int64_t unresolved = 0;  // unchanged TOAST values with no known current value
};

Status CreateTable(duck::Connection& conn, const change::TableDef& def);
// Applies the schema change `from` → `to` in place. Returns an empty string, or why the
// mirror copy cannot follow (the table then needs a re-snapshot).
Result<std::string> AlterTable(duck::Connection& conn, const change::TableDef& from,
                               const change::TableDef& to);
// Why a table cannot be mirrored at all under its name, or empty.
std::string UnsupportedReason(const change::TableDef& def);

Result<MergeCounts> MergeKeyed(duck::Connection& conn, const StageRef& stage);
Result<MergeCounts> MergeFullRow(duck::Connection& conn, const StageRef& stage);
Result<MergeCounts> MergeAppendOnly(duck::Connection& conn, const StageRef& stage);

// Runs `sql` and returns the first column of the first row as an integer (counts).
Result<int64_t> QueryCount(duck::Connection& conn, const std::string& sql);

}  // namespace walden::mirror::internal
