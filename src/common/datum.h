// The typed values walden carries from capture to the sinks: each column's type (named
// after the DuckDB type of design §7) and each value as a `Datum`. Produced by `pg` from
// PostgreSQL's text or binary forms; consumed by the archive and the mirror, which know
// nothing of PostgreSQL's wire format. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace walden {

// DuckDB's HUGEINT/UHUGEINT width; DECIMAL(38) and UUID need 128 bits.
__extension__ using Int128 = __int128;
__extension__ using UInt128 = unsigned __int128;

enum class TypeKind : uint8_t {
  kBool,
  kInt16,
  kInt32,
  kInt64,
  kFloat32,
  kFloat64,
  kDecimal,
  kText,
  kBlob,
  kDate,
  kTime,
  kTimeTz,
  kTimestamp,
  kTimestampTz,
  kInterval,
  kUuid,
  kJson,
  kList
};

struct ColumnType {
  TypeKind kind = TypeKind::kText;
  int precision = 0;                          // kDecimal
  int scale = 0;                              // kDecimal
  std::shared_ptr<const ColumnType> element;  // kList
  // Where the values come from, for the source's decoders (not part of the type's identity):
  uint32_t pg_oid = 0;   // PostgreSQL type OID (domains: their base type)
  bool is_enum = false;  // kText holding an enum label

  std::string DuckDbName() const;  // "DECIMAL(10,2)", "INTEGER[]", ...
  friend bool operator==(const ColumnType& a, const ColumnType& b);
};

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

// What a value occupies in memory, its own allocations included (for memory budgets).
size_t ApproxBytes(const Datum& value);

}  // namespace walden
