#include "feed/event.h"

#include <gtest/gtest.h>

#include "duck/duckdb.h"

namespace walden::feed {
namespace {

ColumnType Of(TypeKind kind) { return ColumnType{.kind = kind}; }

// Each value's JSON is DuckDB's own text form of the same value (what queries show).
TEST(FeedEvent, ValuesReadAsDuckDbShowsThem) {
  auto db = duck::Database::Open(":memory:");
  ASSERT_TRUE(db);
  auto conn = duck::Connection::Open(*db);
  ASSERT_TRUE(conn->Execute("SET TimeZone = 'UTC'"));
  struct Case {
    ColumnType type;
    Datum value;
    std::string sql;  // DuckDB literal of the same value
  };
  const std::vector<Case> cases = {
      {Of(TypeKind::kDecimal), Decimal{.unscaled = -1205, .scale = 2}, "-12.05::DECIMAL(10,2)"},
      {Of(TypeKind::kDecimal), Decimal{.unscaled = 7, .scale = 3}, "0.007::DECIMAL(10,3)"},
      {Of(TypeKind::kDate), Date{.days = 19723}, "DATE '2024-01-01'"},
      {Of(TypeKind::kDate), Date{.days = -719162}, "DATE '0001-01-01'"},
      {Of(TypeKind::kDate), Date{.days = -719163}, "DATE '0001-12-31 (BC)'"},
      {Of(TypeKind::kTime), Time{.micros = 3723500000}, "TIME '01:02:03.5'"},
      {Of(TypeKind::kTimestamp), Timestamp{.micros = 1704067200000000},
       "TIMESTAMP '2024-01-01 00:00:00'"},
      {Of(TypeKind::kTimestamp), Timestamp{.micros = -1}, "TIMESTAMP '1969-12-31 23:59:59.999999'"},
      {Of(TypeKind::kTimestampTz), Timestamp{.micros = 1704067200123000},
       "TIMESTAMPTZ '2024-01-01 00:00:00.123+00'"},
      {Of(TypeKind::kInterval), Interval{.months = 14, .days = 3, .micros = 14706000000},
       "INTERVAL '1 year 2 months 3 days 04:05:06'"},
      {Of(TypeKind::kInterval), Interval{.months = 0, .days = -1, .micros = -7384500000},
       "INTERVAL '-1 day -02:03:04.5'"},
      {Of(TypeKind::kInterval), Interval{}, "INTERVAL '0 seconds'"},
      {Of(TypeKind::kUuid), Uuid{.value = (UInt128{0xa0eebc999c0b4ef8} << 64) | 0xbb6d6bb9bd380a11},
       "UUID 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"},
      {Of(TypeKind::kBlob), Blob{.bytes = std::string("a\0\xff", 3)}, "'a\\x00\\xFF'::BLOB"},
      {Of(TypeKind::kTimeTz), TimeTz{.micros = 3600000000, .offset_seconds = 19800},
       "TIMETZ '01:00:00+05:30'"},
  };
  for (const Case& c : cases) {
    auto result = conn->Query("SELECT to_json((" + c.sql + ")::VARCHAR)");
    ASSERT_TRUE(result) << c.sql << ": " << result.error().message;
    EXPECT_EQ(ValueJson(c.type, c.value), *result->Text(0, 0)) << c.sql;
  }
}

TEST(FeedEvent, NativeJsonForNumbersListsAndJson) {
  EXPECT_EQ(ValueJson(Of(TypeKind::kInt64), Datum{int64_t{-42}}), "-42");
  EXPECT_EQ(ValueJson(Of(TypeKind::kBool), Datum{true}), "true");
  EXPECT_EQ(ValueJson(Of(TypeKind::kFloat64), Datum{2.5}), "2.5");
  EXPECT_EQ(ValueJson(Of(TypeKind::kFloat64), Datum{std::numeric_limits<double>::infinity()}),
            "\"inf\"");
  EXPECT_EQ(ValueJson(Of(TypeKind::kText), Datum{std::string("a \"q\"\n")}), R"("a \"q\"\n")");
  EXPECT_EQ(ValueJson(Of(TypeKind::kJson), Datum{std::string(R"({"a": [1, 2]})")}),
            R"({"a":[1,2]})");
  const ColumnType list{.kind = TypeKind::kList,
                        .element = std::make_shared<ColumnType>(Of(TypeKind::kText))};
  EXPECT_EQ(ValueJson(list, Datum{List{.items = {Datum{std::string("x")}, Datum{Null{}}}}}),
            R"(["x",null])");
  EXPECT_EQ(ValueJson(Of(TypeKind::kText), Datum{Null{}}), "null");
}

TEST(FeedEvent, IdsSortInCommitOrderAndParseBack) {
  const EventId id{.lsn = 0x16B3748, .seq = 12};
  EXPECT_EQ(id.ToString(), "00000000016B3748-12");
  EXPECT_EQ(EventId::Parse(id.ToString()), id);
  EXPECT_LT(EventId({.lsn = 1, .seq = 9}).ToString(), EventId({.lsn = 2, .seq = 0}).ToString());
  for (const char* bad : {"", "16B3748-1", "00000000016B3748-", "00000000016B3748-x",
                          "00000000016B3748-1 ", "0000000G016B3748-1", "00000000016B3748--1"}) {
    EXPECT_FALSE(EventId::Parse(bad)) << bad;
  }
}

TEST(FeedEvent, RowChangesBecomeEventsAndOtherChangesDoNot) {
  auto table = std::make_shared<change::TableDef>();
  table->name = {"public", "my table"};
  table->columns = {{.name = "id", .type = Of(TypeKind::kInt64), .key = true},
                    {.name = "body", .type = Of(TypeKind::kText)}};
  const change::TransactionInfo txn{
      .xid = 7, .commit_lsn = Lsn{0x1000}, .end_lsn = Lsn{0x1010}, .commit_time = 1704067200000000};
  change::Change update{.op = change::Op::kUpdate,
                        .seq = 3,
                        .table = table,
                        .row = {Datum{int64_t{1}}, std::nullopt},
                        .old_image = change::OldImage::kKey,
                        .before = {Datum{int64_t{2}}, Datum{Null{}}}};
  auto event = RowEvent(txn, update);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->id.ToString(), "0000000000001000-3");
  EXPECT_EQ(event->data, R"({"op":"update","table":"public.\"my table\"","lsn":"0/1000",)"
                         R"("commit_time":"2024-01-01T00:00:00.000000Z","row":{"id":1},)"
                         R"("before":{"id":2,"body":null},"unchanged":["body"]})");
  change::Change read = update;
  read.op = change::Op::kRead;
  EXPECT_FALSE(RowEvent(txn, read));
  change::Change truncate{.op = change::Op::kTruncate, .seq = 4, .truncated = {table}};
  const auto truncated = TruncateEvents(txn, truncate);
  ASSERT_EQ(truncated.size(), 1u);
  EXPECT_EQ(truncated[0].first, table->name);
  EXPECT_EQ(truncated[0].second.data,
            R"({"op":"truncate","table":"public.\"my table\"","lsn":"0/1000",)"
            R"("commit_time":"2024-01-01T00:00:00.000000Z"})");
}

}  // namespace
}  // namespace walden::feed
