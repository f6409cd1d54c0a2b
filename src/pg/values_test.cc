#include <gtest/gtest.h>

#include <cmath>

#include "pg/types.h"

namespace walden::pg {
namespace {

Datum Parse(const ColumnType& type, std::string_view text) {
  auto datum = ParseText(type, text);
  EXPECT_TRUE(datum) << text << ": " << datum.error().message;
  return datum.value_or(Datum{Null{}});
}

ColumnType T(TypeKind kind) { return ColumnType{.kind = kind}; }

TEST(Types, MapsDesignTypeTable) {
  EXPECT_EQ(MapType(21, -1).DuckDbName(), "SMALLINT");
  EXPECT_EQ(MapType(23, -1).DuckDbName(), "INTEGER");
  EXPECT_EQ(MapType(20, -1).DuckDbName(), "BIGINT");
  EXPECT_EQ(MapType(700, -1).DuckDbName(), "FLOAT");
  EXPECT_EQ(MapType(701, -1).DuckDbName(), "DOUBLE");
  EXPECT_EQ(MapType(1700, ((10 << 16) | 2) + 4).DuckDbName(), "DECIMAL(10,2)");
  EXPECT_EQ(MapType(1700, ((38 << 16) | 0) + 4).DuckDbName(), "DECIMAL(38,0)");
  EXPECT_EQ(MapType(1700, ((39 << 16) | 0) + 4).DuckDbName(), "VARCHAR");
  EXPECT_EQ(MapType(1700, -1).DuckDbName(), "VARCHAR");
  EXPECT_EQ(MapType(1700, ((5 << 16) | (0x800 - 2)) + 4).DuckDbName(), "VARCHAR");  // scale -2
  EXPECT_EQ(MapType(1043, 20).DuckDbName(), "VARCHAR");
  EXPECT_EQ(MapType(17, -1).DuckDbName(), "BLOB");
  EXPECT_EQ(MapType(1266, -1).DuckDbName(), "TIMETZ");
  EXPECT_EQ(MapType(1184, -1).DuckDbName(), "TIMESTAMPTZ");
  EXPECT_EQ(MapType(1186, -1).DuckDbName(), "INTERVAL");
  EXPECT_EQ(MapType(2950, -1).DuckDbName(), "UUID");
  EXPECT_EQ(MapType(3802, -1).DuckDbName(), "JSON");
  EXPECT_EQ(MapType(1007, -1).DuckDbName(), "INTEGER[]");
  EXPECT_EQ(MapType(869, -1).DuckDbName(), "VARCHAR");  // inet
  const TypeLookup lookup = [](uint32_t oid) -> Result<std::optional<PgTypeInfo>> {
    if (oid == 90001) return PgTypeInfo{.typtype = 'e'};
    if (oid == 90002)
      return PgTypeInfo{.typtype = 'd', .base_type = 1700, .base_typmod = ((6 << 16) | 1) + 4};
    if (oid == 90003) return PgTypeInfo{.element_type = 90002};
    if (oid == 90004) return PgTypeInfo{.element_type = 90005};
    if (oid == 90005) return Fail(ErrorKind::kConnection, "catalog away");
    return std::nullopt;
  };
  EXPECT_EQ(MapType(90001, -1, lookup)->DuckDbName(), "VARCHAR");
  EXPECT_TRUE(MapType(90001, -1, lookup)->is_enum);
  EXPECT_EQ(MapType(90002, -1, lookup)->DuckDbName(), "DECIMAL(6,1)");
  EXPECT_EQ(MapType(90003, -1, lookup)->DuckDbName(), "DECIMAL(6,1)[]");
  EXPECT_EQ(MapType(23, -1, lookup)->DuckDbName(), "INTEGER");
  EXPECT_EQ(MapType(90099, -1, lookup)->DuckDbName(), "VARCHAR");  // no such type
  // A look-up that could not be made decides nothing, also for an array's element.
  EXPECT_EQ(MapType(90005, -1, lookup).error().message, "catalog away");
  EXPECT_EQ(MapType(90004, -1, lookup).error().message, "catalog away");
}

TEST(Values, Scalars) {
  EXPECT_EQ(Parse(T(TypeKind::kBool), "t"), Datum(true));
  EXPECT_EQ(Parse(T(TypeKind::kInt16), "-32768"), Datum(int64_t{-32768}));
  EXPECT_EQ(Parse(T(TypeKind::kInt64), "9223372036854775807"), Datum(int64_t{9223372036854775807}));
  EXPECT_EQ(Parse(T(TypeKind::kFloat64), "1.5"), Datum(1.5));
  EXPECT_TRUE(std::isnan(std::get<double>(Parse(T(TypeKind::kFloat32), "NaN"))));
  EXPECT_EQ(Parse(T(TypeKind::kFloat64), "-Infinity"), Datum(-INFINITY));
  const ColumnType dec{.kind = TypeKind::kDecimal, .precision = 10, .scale = 2};
  EXPECT_EQ(Parse(dec, "-12.5"), Datum(Decimal{-1250, 2}));
  EXPECT_EQ(Parse(dec, "7"), Datum(Decimal{700, 2}));
  EXPECT_EQ(Parse(dec, "-99999999.99"), Datum(Decimal{-9999999999, 2}));
  EXPECT_FALSE(ParseText(dec, "123456789.00"));  // 9 integer digits do not fit (10,2)
  // Found by the fuzzer: many digits must fail cleanly, not overflow.
  const ColumnType widest{.kind = TypeKind::kDecimal, .precision = 38, .scale = 10};
  EXPECT_FALSE(ParseText(widest, std::string(120, '6')));
  EXPECT_EQ(
      Parse(widest, "1234567890123456789012345678.0123456789"),
      Datum(Decimal{
          (Int128{123456789012345678} * 10000000000 + 9012345678) * 10000000000 + 123456789, 10}));
  EXPECT_EQ(ParseText(dec, "NaN").error().message,
            "numeric value NaN cannot be stored as DECIMAL(10,2) (DuckDB's DECIMAL has no NaN); "
            "declare the column as plain numeric to keep it as text");
  EXPECT_EQ(Parse(T(TypeKind::kBlob), "\\x00ff10"), Datum(Blob{std::string("\x00\xff\x10", 3)}));
  EXPECT_EQ(Parse(T(TypeKind::kUuid), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Datum(Uuid{(UInt128{0xa0eebc999c0b4ef8ull} << 64) | 0xbb6d6bb9bd380a11ull}));
}

TEST(Values, DatesTimesAndInfinity) {
  EXPECT_EQ(Parse(T(TypeKind::kDate), "1970-01-02"), Datum(Date{1}));
  EXPECT_EQ(Parse(T(TypeKind::kDate), "2000-03-01"), Datum(Date{11017}));
  EXPECT_EQ(Parse(T(TypeKind::kDate), "0001-12-31 BC"), Datum(Date{-719163}));
  EXPECT_EQ(Parse(T(TypeKind::kDate), "infinity"), Datum(Date{Date::kInfinity}));
  EXPECT_EQ(Parse(T(TypeKind::kDate), "-infinity"), Datum(Date{-Date::kInfinity}));
  EXPECT_EQ(Parse(T(TypeKind::kTime), "24:00:00"), Datum(Time{86400000000}));
  EXPECT_EQ(Parse(T(TypeKind::kTime), "01:02:03.5"), Datum(Time{3723500000}));
  EXPECT_EQ(Parse(T(TypeKind::kTimeTz), "01:02:03+05:30"), Datum(TimeTz{3723000000, 19800}));
  EXPECT_EQ(Parse(T(TypeKind::kTimestamp), "1970-01-01 00:00:01.000001"),
            Datum(Timestamp{1000001}));
  EXPECT_EQ(Parse(T(TypeKind::kTimestampTz), "1970-01-01 01:00:00+01"), Datum(Timestamp{0}));
  EXPECT_EQ(Parse(T(TypeKind::kTimestamp), "infinity"), Datum(Timestamp{Timestamp::kInfinity}));
  EXPECT_EQ(Parse(T(TypeKind::kInterval), "P1Y2M3DT4H5M6.5S"),
            Datum(Interval{14, 3, (4 * 3600 + 5 * 60 + 6) * 1000000LL + 500000}));
  EXPECT_EQ(Parse(T(TypeKind::kInterval), "P-1DT-2H"), Datum(Interval{0, -1, -7200000000LL}));
  EXPECT_EQ(Parse(T(TypeKind::kInterval), "PT0S"), Datum(Interval{}));
}

TEST(Values, Arrays) {
  const ColumnType ints = MapType(1007, -1);
  EXPECT_EQ(Parse(ints, "{}"), Datum(List{}));
  EXPECT_EQ(Parse(ints, "{1,NULL,-3}"),
            Datum(List{{Datum(int64_t{1}), Datum(Null{}), Datum(int64_t{-3})}}));
  const ColumnType texts = MapType(1009, -1);
  EXPECT_EQ(Parse(texts, R"({plain,"a b","q\"uote","NULL",""})"),
            Datum(List{{Datum(std::string("plain")), Datum(std::string("a b")),
                        Datum(std::string("q\"uote")), Datum(std::string("NULL")),
                        Datum(std::string(""))}}));
  EXPECT_EQ(Parse(ints, "[0:1]={5,6}"), Datum(List{{Datum(int64_t{5}), Datum(int64_t{6})}}));
}

TEST(Values, RejectsMalformedText) {
  for (const auto& [kind, text] : std::vector<std::pair<TypeKind, std::string>>{
           {TypeKind::kBool, "yes"},
           {TypeKind::kInt16, "40000"},
           {TypeKind::kInt32, "1x"},
           {TypeKind::kDate, "2024-13-01"},
           {TypeKind::kTime, "1:2:3"},
           {TypeKind::kTimestampTz, "2024-01-01 00:00:00"},
           {TypeKind::kInterval, "1 day"},
           {TypeKind::kUuid, "abc"},
           {TypeKind::kBlob, "\\x0"}}) {
    EXPECT_FALSE(ParseText(T(kind), text)) << text;
  }
  EXPECT_EQ(ParseText(T(TypeKind::kInt32), "1x").error().message, "cannot read '1x' as INTEGER");
  EXPECT_FALSE(ParseText(MapType(1007, -1), "{1,2"));
  EXPECT_FALSE(ParseText(MapType(1007, -1), "{1,,2}"));
}

}  // namespace
}  // namespace walden::pg
