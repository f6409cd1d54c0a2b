// Writes typed rows (common/datum.h) into a DuckDB table through DuckDB's appender: the
// bulk path the mirror's staging tables and the archive's Parquet segments use. Rows are
// written straight into a data chunk's vectors (no DuckDB value object per cell) and handed
// over 2,048 at a time, and on Flush.
//
// Contract: AppendRow takes one Datum per column, typed as `types` says; a Datum of the
// wrong kind for its column is a kInternal error, never a silent cast. ±infinity dates and
// timestamps, NaN and nested lists round-trip. A row that fails is not appended, nor are the
// rows before it since the last hand-over (the caller abandons the batch). Thread-safety: one
// thread per Appender, and the Connection must outlive it.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/datum.h"
#include "common/error.h"
#include "duck/duckdb.h"

namespace walden::duck {

class Appender {
 public:
  // catalog: empty for the default database, "temp" for temporary tables.
  static Result<Appender> Open(Connection& conn, const std::string& schema,
                               const std::string& table, const std::string& catalog = "");
  Appender(Appender&&) noexcept;
  Appender& operator=(Appender&&) = delete;
  ~Appender();

  Status AppendRow(std::span<const ColumnType> types, std::span<const Datum> values);
  // The same from pointers to the values, so a row is written without being copied
  // together first; nullptr is NULL.
  Status AppendRow(std::span<const ColumnType> types, std::span<const Datum* const> values);
  // Makes appended rows visible (also done on destruction).
  Status Flush();

 private:
  explicit Appender(duckdb_appender appender) : appender_(appender) {}
  Status Check(duckdb_state state, const char* what);
  void NewChunk();
  Status StartRow(size_t types, size_t values);
  Status WriteCell(size_t column, const ColumnType& type, const Datum& value);
  Status EndRow();
  Status AppendChunk();
  duckdb_appender appender_ = nullptr;
  duckdb_data_chunk chunk_ = nullptr;
  idx_t rows_ = 0;
  std::vector<duckdb_type> ids_;  // the table's column types
};

// DuckDB's logical type for a column type (the caller destroys it).
duckdb_logical_type LogicalTypeOf(const ColumnType& type);

}  // namespace walden::duck
