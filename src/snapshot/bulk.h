// The initial load's fast path: a chunk is copied from PostgreSQL as CSV into a local file
// and DuckDB reads that file itself (read_csv), casting PostgreSQL's text forms to the
// column types, instead of walden parsing every value and appending it twice.
//
// Only for tables whose every column type DuckDB casts from PostgreSQL's text form to
// exactly the value walden's own parser gives (BulkEligible). Text forms a cast could read
// wrongly (BC dates) are turned into cast errors; so a chunk DuckDB cannot read exactly
// fails as a whole, and the caller reads it again the ordinary way. The text forms are
// those of the sessions walden opens (pg::kReplicationSessionOptions).
// Thread-safety: pure functions; ReadChunkCsv uses the given connection.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/datum.h"
#include "common/error.h"
#include "pg/connection.h"
#include "snapshot/source.h"

namespace walden::snapshot {

bool BulkEligible(std::span<const ColumnType> types);

// A DuckDB SELECT of the file's rows: one column per type, in order, cast to the type.
std::string BulkSelectSql(std::span<const ColumnType> types, const std::string& csv_path);

// Writes the chunk's rows (COPY … TO STDOUT (FORMAT csv)) to `path`; returns the bytes.
Result<int64_t> ReadChunkCsv(pg::Connection& conn, const SourceTable& table, const Chunk& chunk,
                             const std::string& path);

}  // namespace walden::snapshot
