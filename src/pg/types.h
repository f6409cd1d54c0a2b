// PostgreSQL column types mapped to walden's column types (common/datum.h), and values
// parsed from PostgreSQL's text and binary forms into typed Datums.
//
// Text forms assume the session settings walden's replication connection sets
// (kReplicationSessionOptions). Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "common/datum.h"
#include "common/error.h"

namespace walden::pg {

inline constexpr const char* kReplicationSessionOptions =
    "-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3 "
    "-c bytea_output=hex";

// What the catalog says about a type walden has no built-in mapping for.
struct PgTypeInfo {
  char typtype = 'b';         // b base, e enum, d domain, c composite, r range, m multirange
  uint32_t base_type = 0;     // domains
  int32_t base_typmod = -1;   // domains
  uint32_t element_type = 0;  // arrays
};
// nullopt: the catalog has no such type. An error: the catalog could not be asked; nothing
// may be decided from it (a type mapped to text by mistake would stay text for good).
using TypeLookup = std::function<Result<std::optional<PgTypeInfo>>(uint32_t oid)>;

// Maps a column's type OID and modifier. Unknown types fall back to text (PostgreSQL's text
// form, kept exactly), as do numerics DuckDB's DECIMAL cannot hold (no or >38 precision).
ColumnType MapType(uint32_t oid, int32_t typmod);
// Resolves user-defined types (enums, domains, their arrays) through `lookup` too; fails
// only when the lookup does.
Result<ColumnType> MapType(uint32_t oid, int32_t typmod, const TypeLookup& lookup);

// Parses PostgreSQL's binary (send/recv) form, for pgoutput's binary mode. Types whose
// binary form walden does not read (e.g. inet, money, ranges: they map to their text form)
// give kUnsupported.
Result<Datum> ParseBinary(const ColumnType& type, std::string_view bytes);

// Parses PostgreSQL's text form of a value of `type`. Errors (kProtocol) name the type and
// the offending text, shortened.
Result<Datum> ParseText(const ColumnType& type, std::string_view text);

}  // namespace walden::pg
