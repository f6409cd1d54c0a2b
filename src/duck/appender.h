// Writes typed rows (common/datum.h) into a DuckDB table through DuckDB's appender: the
// bulk path the mirror's staging tables and the archive's Parquet segments use.
//
// Contract: AppendRow takes one Datum per column, typed as `types` says; a Datum of the
// wrong kind for its column is a kInternal error, never a silent cast. ±infinity dates and
// timestamps, NaN and nested lists round-trip. Thread-safety: one thread per Appender, and
// the Connection must outlive it.
#pragma once

#include <span>
#include <string>

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
  // Makes appended rows visible (also done on destruction).
  Status Flush();

 private:
  explicit Appender(duckdb_appender appender) : appender_(appender) {}
  Status Check(duckdb_state state, const char* what);
  Status Append(const ColumnType& type, const Datum& value);
  duckdb_appender appender_ = nullptr;
};

// DuckDB's logical type for a column type (the caller destroys it).
duckdb_logical_type LogicalTypeOf(const ColumnType& type);

}  // namespace walden::duck
