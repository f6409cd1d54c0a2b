// The fast path must give exactly what walden's own parser gives for every text form
// PostgreSQL prints (with walden's session settings), or fail so the chunk is read again.
#include "snapshot/bulk.h"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "duck/appender.h"
#include "duck/duckdb.h"
#include "pg/types.h"

namespace walden::snapshot {
namespace {

struct Case {
  ColumnType type;
  std::vector<std::optional<std::string>> texts;  // nullopt: SQL NULL
};

std::string CsvField(const std::optional<std::string>& text) {
  if (!text) return "";
  std::string out = "\"";
  for (char c : *text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

class BulkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<duck::Database>(*duck::Database::Open(":memory:"));
    conn_ = std::make_unique<duck::Connection>(*duck::Connection::Open(*db_));
    ASSERT_TRUE(conn_->Execute("SET TimeZone = 'UTC'"));
  }

  // Rows the fast path read that differ from walden's parser (or its error).
  Result<int64_t> Mismatches(const Case& c) {
    // One file per test: ctest runs the tests of this binary in parallel.
    const std::string path = ::testing::TempDir() + "/" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                             ".csv";
    std::ofstream(path) << [&] {
      std::string csv;
      for (const auto& text : c.texts) csv += CsvField(text) + "\n";
      return csv;
    }();
    const std::vector<ColumnType> types{c.type};
    auto fast = conn_->Execute(
        "CREATE OR REPLACE TABLE fast AS SELECT row_number() OVER () AS i, "
        "c0 FROM (" +
        BulkSelectSql(types, path) + ")");
    if (!fast) return std::unexpected(fast.error());
    EXPECT_TRUE(
        conn_->Execute("CREATE OR REPLACE TABLE slow (i BIGINT, c0 " + c.type.DuckDbName() + ")"));
    auto appender = duck::Appender::Open(*conn_, "main", "slow");
    EXPECT_TRUE(appender);
    const std::vector<ColumnType> row_types{ColumnType{.kind = TypeKind::kInt64}, c.type};
    for (size_t i = 0; i < c.texts.size(); ++i) {
      Datum value = Null{};
      if (c.texts[i]) {
        auto parsed = pg::ParseText(c.type, *c.texts[i]);
        EXPECT_TRUE(parsed) << *c.texts[i];
        if (parsed) value = std::move(*parsed);
      }
      const Datum row[] = {static_cast<int64_t>(i + 1), value};
      EXPECT_TRUE(appender->AppendRow(row_types, row));
    }
    EXPECT_TRUE(appender->Flush());
    auto differ = conn_->Query(
        "SELECT count(*) FROM fast FULL JOIN slow USING (i) WHERE fast.c0 IS DISTINCT FROM "
        "slow.c0 OR fast.c0::VARCHAR IS DISTINCT FROM slow.c0::VARCHAR");
    if (!differ) return std::unexpected(differ.error());
    return std::stoll(*differ->Text(0, 0));
  }

  std::unique_ptr<duck::Database> db_;
  std::unique_ptr<duck::Connection> conn_;
};

ColumnType Type(TypeKind kind, int precision = 0, int scale = 0) {
  return ColumnType{.kind = kind, .precision = precision, .scale = scale};
}

TEST_F(BulkTest, EveryEligibleTypeReadsExactlyWhatWaldensParserReads) {
  const Case cases[] = {
      {Type(TypeKind::kBool), {"t", "f", std::nullopt}},
      {Type(TypeKind::kInt16), {"-32768", "32767", "0"}},
      {Type(TypeKind::kInt32), {"-2147483648", "2147483647"}},
      {Type(TypeKind::kInt64), {"-9223372036854775808", "9223372036854775807"}},
      {Type(TypeKind::kFloat32),
       {"1.1754944e-38", "3.4028235e+38", "-0", "Infinity", "NaN", "0.1"}},
      {Type(TypeKind::kFloat64),
       {"4.9406564584124654e-324", "1.7976931348623157e+308", "-Infinity", "NaN", "0.1",
        "123456789.125"}},
      {Type(TypeKind::kDecimal, 12, 3), {"-123456789.125", "0.000", "999999999.999"}},
      {Type(TypeKind::kDecimal, 38, 0), {"99999999999999999999999999999999999999"}},
      {Type(TypeKind::kText), {"", "a,b", "line1\nline2", "\"q\"", "\\.", "Grüße, 世界 ✓", "NULL"}},
      {Type(TypeKind::kJson), {"{\"a\":   [1, 2.50, 1e400]}", "[]", "null", "\"x\""}},
      {Type(TypeKind::kBlob), {"\\x", "\\x00ff10", "\\x5c78"}},
      {Type(TypeKind::kDate),
       {"2024-02-29", "infinity", "-infinity", "0001-01-01", "5874897-12-31"}},
      {Type(TypeKind::kTime), {"00:00:00", "24:00:00", "23:59:59.999999", "12:34:56.5"}},
      {Type(TypeKind::kTimestamp),
       {"1999-12-31 23:59:59.999999", "infinity", "-infinity", "2024-02-29 12:00:00"}},
      {Type(TypeKind::kTimestampTz),
       {"2024-02-29 10:34:56.789012+00", "infinity", "1970-01-01 00:00:00+00"}},
      {Type(TypeKind::kUuid), {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
  };
  for (Case c : cases) {
    ASSERT_TRUE(BulkEligible(std::vector<ColumnType>{c.type})) << c.type.DuckDbName();
    c.texts.push_back(std::nullopt);  // NULL reads as NULL whatever the cast
    auto mismatches = Mismatches(c);
    ASSERT_TRUE(mismatches) << c.type.DuckDbName() << ": " << mismatches.error().message;
    EXPECT_EQ(*mismatches, 0) << c.type.DuckDbName();
  }
}

TEST_F(BulkTest, TextFormsDuckDbWouldMisreadFailTheChunk) {
  // Walden reads all of these; DuckDB would read the BC ones as AD, or cannot read them.
  const Case cases[] = {
      {Type(TypeKind::kDate), {"2024-01-01", "0044-03-15 BC"}},
      {Type(TypeKind::kTimestamp), {"0044-03-15 10:00:00 BC"}},
      {Type(TypeKind::kTimestampTz), {"0044-03-15 10:00:00+00 BC"}},
      {Type(TypeKind::kDecimal, 10, 2), {"NaN"}},
  };
  for (const Case& c : cases) {
    auto mismatches = Mismatches(c);
    EXPECT_FALSE(mismatches) << c.type.DuckDbName() << " read " << *c.texts.back();
  }
}

TEST(Bulk, TypesWithoutAnExactCastAreNotEligible) {
  const ColumnType list{.kind = TypeKind::kList,
                        .element = std::make_shared<const ColumnType>(Type(TypeKind::kInt32))};
  for (const ColumnType& type : {Type(TypeKind::kInterval), Type(TypeKind::kTimeTz), list}) {
    EXPECT_FALSE(BulkEligible(std::vector<ColumnType>{Type(TypeKind::kInt64), type}))
        << type.DuckDbName();
  }
  EXPECT_FALSE(BulkEligible(std::vector<ColumnType>{}));
  EXPECT_TRUE(BulkEligible(std::vector<ColumnType>{Type(TypeKind::kInt64), Type(TypeKind::kText)}));
}

}  // namespace
}  // namespace walden::snapshot
