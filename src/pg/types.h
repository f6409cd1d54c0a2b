// PostgreSQL column types mapped to walden's column types, which name the DuckDB type of
// design §7, and values parsed from PostgreSQL's text form into typed `Datum`s.
//
// The archive and the mirror take Datums and ColumnTypes and never see PostgreSQL's wire
// format. Text forms assume the session settings walden's replication connection sets
// (DateStyle ISO, IntervalStyle iso_8601, TimeZone UTC, extra_float_digits 3, bytea hex),
// see kReplicationSessionOptions. Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace walden::pg {

// DuckDB's HUGEINT/UHUGEINT width; DECIMAL(38) and UUID need 128 bits.
__extension__ using Int128 = __int128;
__extension__ using UInt128 = unsigned __int128;

inline constexpr const char* kReplicationSessionOptions =
    "-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3 "
    "-c bytea_output=hex";

enum class TypeKind : uint8_t {
  kBool, kInt16, kInt32, kInt64, kFloat32, kFloat64, kDecimal, kText, kBlob, kDate, kTime,
  kTimeTz, kTimestamp, kTimestampTz, kInterval, kUuid, kJson, kList
};

struct ColumnType {
  TypeKind kind = TypeKind::kText;
  int precision = 0;  // kDecimal
  int scale = 0;      // kDecimal
  std::shared_ptr<const ColumnType> element;  // kList
  uint32_t pg_oid = 0;   // the PostgreSQL type the values come as (domains: their base type)
  bool is_enum = false;  // kText holding an enum label


  std::string DuckDbName() const;  // "DECIMAL(10,2)", "INTEGER[]", ...
  friend bool operator==(const ColumnType& a, const ColumnType& b);
};

// What the catalog says about a type walden has no built-in mapping for.
struct PgTypeInfo {
  char typtype = 'b';          // b base, e enum, d domain, c composite, r range, m multirange
  uint32_t base_type = 0;      // domains
  int32_t base_typmod = -1;    // domains
  uint32_t element_type = 0;   // arrays
};
using TypeLookup = std::function<std::optional<PgTypeInfo>(uint32_t oid)>;

// Maps a column's type OID and modifier. Unknown types fall back to text (PostgreSQL's text
// form, kept exactly), as do numerics DuckDB's DECIMAL cannot hold (no or >38 precision).
ColumnType MapType(uint32_t oid, int32_t typmod, const TypeLookup& lookup = nullptr);

struct Datum;
struct Null {
  friend bool operator==(Null, Null) { return true; }
};
struct Decimal {
  Int128 unscaled = 0;
  int scale = 0;
  friend bool operator==(const Decimal&, const Decimal&) = default;
};
struct Blob {
  std::string bytes;
  friend bool operator==(const Blob&, const Blob&) = default;
};
// Dates in days and timestamps in µs since 1970-01-01; ±infinity use DuckDB's encodings.
struct Date {
  int32_t days = 0;
  static constexpr int32_t kInfinity = INT32_MAX;
  friend bool operator==(const Date&, const Date&) = default;
};
struct Time {
  int64_t micros = 0;
  friend bool operator==(const Time&, const Time&) = default;
};
struct TimeTz {
  int64_t micros = 0;
  int32_t offset_seconds = 0;  // east of UTC
  friend bool operator==(const TimeTz&, const TimeTz&) = default;
};
struct Timestamp {
  int64_t micros = 0;
  static constexpr int64_t kInfinity = INT64_MAX;
  friend bool operator==(const Timestamp&, const Timestamp&) = default;
};
struct Interval {
  int32_t months = 0;
  int32_t days = 0;
  int64_t micros = 0;
  friend bool operator==(const Interval&, const Interval&) = default;
};
struct Uuid {
  UInt128 value = 0;
  friend bool operator==(const Uuid&, const Uuid&) = default;
};
struct List {
  std::vector<Datum> items;
  friend bool operator==(const List&, const List&);
};

struct Datum : std::variant<Null, bool, int64_t, double, Decimal, std::string, Blob, Date, Time,
                            TimeTz, Timestamp, Interval, Uuid, List> {
  using variant::variant;
  bool is_null() const { return std::holds_alternative<Null>(*this); }
};

// Parses PostgreSQL's binary (send/recv) form, for pgoutput's binary mode. Types whose
// binary form walden does not read (e.g. inet, money, ranges: they map to their text form)
// give kUnsupported.
Result<Datum> ParseBinary(const ColumnType& type, std::string_view bytes);

// Parses PostgreSQL's text form of a value of `type`. Errors (kProtocol) name the type and
// the offending text, shortened.
Result<Datum> ParseText(const ColumnType& type, std::string_view text);

}  // namespace walden::pg
