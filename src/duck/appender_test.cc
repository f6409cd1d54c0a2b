#include "duck/appender.h"

#include <gtest/gtest.h>

#include <cmath>

namespace walden::duck {
namespace {

ColumnType T(TypeKind kind, int precision = 0, int scale = 0) {
  return ColumnType{.kind = kind, .precision = precision, .scale = scale};
}

ColumnType ListOf(ColumnType element) {
  return ColumnType{.kind = TypeKind::kList,
                    .element = std::make_shared<const ColumnType>(std::move(element))};
}

TEST(Appender, EveryColumnTypeRoundTripsThroughDuckDb) {
  const std::vector<ColumnType> types = {T(TypeKind::kBool),
                                         T(TypeKind::kInt16),
                                         T(TypeKind::kInt32),
                                         T(TypeKind::kInt64),
                                         T(TypeKind::kFloat32),
                                         T(TypeKind::kFloat64),
                                         T(TypeKind::kDecimal, 38, 10),
                                         T(TypeKind::kText),
                                         T(TypeKind::kBlob),
                                         T(TypeKind::kDate),
                                         T(TypeKind::kTime),
                                         T(TypeKind::kTimeTz),
                                         T(TypeKind::kTimestamp),
                                         T(TypeKind::kTimestampTz),
                                         T(TypeKind::kInterval),
                                         T(TypeKind::kUuid),
                                         T(TypeKind::kJson),
                                         ListOf(T(TypeKind::kInt32)),
                                         ListOf(T(TypeKind::kDecimal, 8, 2)),
                                         T(TypeKind::kDecimal, 4, 1),
                                         T(TypeKind::kDecimal, 12, 2),
                                         ListOf(T(TypeKind::kText))};
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  std::string ddl = "CREATE TABLE t (";
  for (size_t i = 0; i < types.size(); ++i) {
    ddl += (i ? ", c" : "c") + std::to_string(i) + " " + types[i].DuckDbName();
  }
  ASSERT_TRUE(conn->Execute(ddl + ")"));
  ASSERT_TRUE(conn->Execute("SET TimeZone = 'UTC'"));
  {
    auto appender = Appender::Open(*conn, "main", "t");
    ASSERT_TRUE(appender) << appender.error().message;
    const std::vector<Datum> row = {
        true,
        int64_t{-32768},
        int64_t{2147483647},
        int64_t{9223372036854775807},
        std::nan(""),
        -INFINITY,
        Decimal{(Int128{123456789012345678} * 10000000000 + 9012345678) * 10000000000 + 123456789,
                10},
        std::string("Grüße ✓"),
        Blob{std::string("\x00\xff", 2)},
        Date{Date::kInfinity},
        Time{86399999999},
        TimeTz{3723500000, 19800},
        Timestamp{-Timestamp::kInfinity},
        Timestamp{1709202896789012},
        Interval{14, -3, 14706500000},
        Uuid{(UInt128{0xa0eebc999c0b4ef8ull} << 64) | 0xbb6d6bb9bd380a11ull},
        std::string("{\"a\": [1, 2]}"),
        List{{Datum(int64_t{1}), Datum(Null{}), Datum(int64_t{3})}},
        List{},
        Decimal{-9999, 1},
        Decimal{Int128{123456789012}, 2},
        List{{Datum(std::string("a")), Datum(std::string("b c"))}}};
    auto ok = appender->AppendRow(types, row);
    ASSERT_TRUE(ok) << ok.error().message;
    std::vector<Datum> nulls(types.size(), Datum(Null{}));
    ASSERT_TRUE(appender->AppendRow(types, nulls));
    ASSERT_TRUE(appender->Flush());
  }
  auto result = conn->Query("SELECT COLUMNS(*)::VARCHAR FROM t");
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->rows(), 2u);
  const std::vector<std::string> expected = {"true",
                                             "-32768",
                                             "2147483647",
                                             "9223372036854775807",
                                             "nan",
                                             "-inf",
                                             "1234567890123456789012345678.0123456789",
                                             "Grüße ✓",
                                             "\\x00\\xFF",
                                             "infinity",
                                             "23:59:59.999999",
                                             "01:02:03.5+05:30",
                                             "-infinity",
                                             "2024-02-29 10:34:56.789012+00",
                                             "1 year 2 months -3 days 04:05:06.5",
                                             "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                             "{\"a\": [1, 2]}",
                                             "[1, NULL, 3]",
                                             "[]",
                                             "-999.9",
                                             "1234567890.12",
                                             "[a, b c]"};
  for (size_t c = 0; c < expected.size(); ++c) {
    EXPECT_EQ(result->Text(0, c), expected[c]) << "column " << c << " " << types[c].DuckDbName();
    EXPECT_EQ(result->Text(1, c), std::nullopt) << c;
  }
}

// Rows go over in chunks of 2,048: many rows, lists in each, all arrive in order.
TEST(Appender, ManyRowsCrossChunkBoundaries) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  ASSERT_TRUE(conn->Execute("CREATE TABLE t (i BIGINT, s VARCHAR, l VARCHAR[])"));
  const std::vector<ColumnType> types = {T(TypeKind::kInt64), T(TypeKind::kText),
                                         ListOf(T(TypeKind::kText))};
  {
    auto appender = Appender::Open(*conn, "main", "t");
    ASSERT_TRUE(appender) << appender.error().message;
    for (int64_t i = 0; i < 5000; ++i) {
      const std::vector<Datum> row = {i, std::string("row ") + std::to_string(i),
                                      List{{Datum(std::to_string(i)), Datum(std::string("x"))}}};
      ASSERT_TRUE(appender->AppendRow(types, row));
    }
  }  // the destructor hands over the last partial chunk
  auto result = conn->Query(
      "SELECT count(*), sum(i), count(*) FILTER (WHERE s = 'row ' || i AND l = [i::VARCHAR, "
      "'x']) FROM t");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->Text(0, 0), "5000");
  EXPECT_EQ(result->Text(0, 1), "12497500");
  EXPECT_EQ(result->Text(0, 2), "5000");
}

TEST(Appender, RowsFromPointersMatchRowsFromValuesAndNullptrIsNull) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  ASSERT_TRUE(conn->Execute("CREATE TABLE t (i BIGINT, s VARCHAR, d DECIMAL(8,2))"));
  const std::vector<ColumnType> types = {T(TypeKind::kInt64), T(TypeKind::kText),
                                         T(TypeKind::kDecimal, 8, 2)};
  {
    auto appender = Appender::Open(*conn, "main", "t");
    const Datum one(int64_t{1}), text(std::string("x")), price(Decimal{1250, 2});
    const Datum* full[] = {&one, &text, &price};
    const Datum* holes[] = {&one, nullptr, nullptr};
    ASSERT_TRUE(appender->AppendRow(types, std::span<const Datum* const>(full)));
    ASSERT_TRUE(appender->AppendRow(types, std::span<const Datum* const>(holes)));
    const Datum* short_row[] = {&one};
    auto wrong = appender->AppendRow(types, std::span<const Datum* const>(short_row));
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().message, "row has 1 values for 3 types and 3 columns");
  }
  auto result = conn->Query("SELECT i, s, d::VARCHAR FROM t ORDER BY s NULLS LAST");
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->rows(), 2u);
  EXPECT_EQ(result->Text(0, 1), "x");
  EXPECT_EQ(result->Text(0, 2), "12.50");
  EXPECT_EQ(result->Text(1, 0), "1");
  EXPECT_EQ(result->Text(1, 1), std::nullopt);
  EXPECT_EQ(result->Text(1, 2), std::nullopt);
}

TEST(Appender, WrongKindIsAnErrorNotACast) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  ASSERT_TRUE(conn->Execute("CREATE TABLE t (d DECIMAL(8,2))"));
  auto appender = Appender::Open(*conn, "main", "t");
  const std::vector<ColumnType> types = {T(TypeKind::kDecimal, 8, 2)};
  const std::vector<Datum> row = {std::string("12.50")};
  auto ok = appender->AppendRow(types, row);
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().message, "value does not match column type DECIMAL(8,2)");
}

TEST(Appender, MissingTableIsAClearError) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  auto appender = Appender::Open(*conn, "main", "missing");
  ASSERT_FALSE(appender);
  EXPECT_TRUE(appender.error().message.starts_with("DuckDB: cannot append to main.missing: "))
      << appender.error().message;
}

}  // namespace
}  // namespace walden::duck
