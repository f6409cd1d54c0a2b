// Every type of design §7 through the real capture path (in process): PostgreSQL text
// forms become typed Datums with DuckDB type names that DuckDB accepts.
#include <gtest/gtest.h>

#include <cmath>

#include "duck/duckdb.h"
#include "pg/capture.h"
#include "tests/support/pg_fixture.h"

namespace walden::testing {
namespace {

using namespace pg;

class TypesTest : public PgTest {
 protected:
  int binary_values_ = 0;

  // Captures the transactions `workload` commits; returns each change's typed new row.
  std::vector<std::pair<std::shared_ptr<const RelationInfo>, std::vector<std::optional<Datum>>>>
  CaptureRows(const std::function<void()>& workload, int transactions, bool binary = false) {
    auto capture = Capture::Start({.conninfo = AdminConninfo(),
                                   .slot = binary ? "types_binary" : "types_slot",
                                   .temporary_slot = true,
                                   .publication = "types_pub",
                                   .binary = binary,
                                   .spill_dir = ::testing::TempDir()});
    EXPECT_TRUE(capture) << capture.error().message;
    std::vector<std::pair<std::shared_ptr<const RelationInfo>, std::vector<std::optional<Datum>>>>
        rows;
    if (!capture) return rows;
    workload();
    int seen = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (seen < transactions && std::chrono::steady_clock::now() < deadline) {
      auto ok = (*capture)->Poll(std::chrono::milliseconds(200), [&](CommittedTransaction&& t) {
        ++seen;
        return t.ForEach([&](const Change& change) -> Status {
          if (change.kind != Change::Kind::kInsert) return {};
          for (const auto& value : change.new_tuple.values) {
            binary_values_ += value.kind == pgoutput::ValueKind::kBinary;
          }
          auto row = ParseTuple(*change.relation, change.new_tuple);
          if (!row) return std::unexpected(row.error());
          rows.emplace_back(change.relation, std::move(*row));
          return {};
        });
      });
      EXPECT_TRUE(ok) << ok.error().message;
      if (!ok) break;
    }
    return rows;
  }
};

TEST_F(TypesTest, EveryDesignTypeRoundTrips) {
  Exec("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  Exec("CREATE DOMAIN price AS numeric(8,2) CHECK (VALUE >= 0)");
  Exec(R"(CREATE TABLE all_types (
      id int PRIMARY KEY, i2 int2, i8 int8, f4 float4, f8 float8, n numeric(12,3),
      n_free numeric, b bool, t text, vc varchar(5), bp char(3), nm name, ba bytea, d date,
      tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid, j json,
      jb jsonb, ia int[], ta text[], m mood, p price, pa price[], inet_col inet, money_col money))");
  const std::string big = "SELECT string_agg(md5(i::text), '') FROM generate_series(1, 32768) i";
  const auto rows = CaptureRows(
      [&] {
        Exec(
            "INSERT INTO all_types VALUES (1, -32768, 9223372036854775807, 'NaN', '-Infinity', "
            "-123456789.125, 1e40, true, 'Grüße, 世界 ✓', 'abc', 'x', 'nm', '\\x00ff', "
            "'infinity', '24:00:00', '01:02:03.5+05:30', '-infinity', "
            "'2024-02-29 12:34:56.789012+02', '1 year 2 mons -3 days 04:05:06.5', "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": null}', "
            "'{}', '{\"a b\",NULL,\"q\\\"\"}', 'happy', 12.5, '{1.25,NULL}', '10.0.0.1/8', 12.34)");
        Exec("INSERT INTO all_types (id) VALUES (2)");
        Exec("INSERT INTO all_types (id, t, d, ts) SELECT 3, (" + big +
             "), '0044-03-15 BC', "
             "'1999-12-31 23:59:59.999999'");
      },
      3);
  ASSERT_EQ(rows.size(), 3u);
  const RelationInfo& rel = *rows[0].first;
  std::vector<std::string> names;
  for (const ColumnType& type : rel.types) names.push_back(type.DuckDbName());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "INTEGER",       "SMALLINT",       "BIGINT",      "FLOAT",     "DOUBLE",
                       "DECIMAL(12,3)", "VARCHAR",        "BOOLEAN",     "VARCHAR",   "VARCHAR",
                       "VARCHAR",       "VARCHAR",        "BLOB",        "DATE",      "TIME",
                       "TIMETZ",        "TIMESTAMP",      "TIMESTAMPTZ", "INTERVAL",  "UUID",
                       "JSON",          "JSON",           "INTEGER[]",   "VARCHAR[]", "VARCHAR",
                       "DECIMAL(8,2)",  "DECIMAL(8,2)[]", "VARCHAR",     "VARCHAR"}));

  const auto& r = rows[0].second;
  auto at = [&](size_t i) { return r[i].value_or(Datum{Null{}}); };
  EXPECT_EQ(at(0), Datum(int64_t{1}));
  EXPECT_EQ(at(1), Datum(int64_t{-32768}));
  EXPECT_EQ(at(2), Datum(int64_t{9223372036854775807}));
  EXPECT_TRUE(std::isnan(std::get<double>(at(3))));
  EXPECT_EQ(at(4), Datum(-INFINITY));
  EXPECT_EQ(at(5), Datum(Decimal{-123456789125, 3}));
  EXPECT_EQ(at(6), Datum(std::string("10000000000000000000000000000000000000000")));
  EXPECT_EQ(at(7), Datum(true));
  EXPECT_EQ(at(8), Datum(std::string("Grüße, 世界 ✓")));
  EXPECT_EQ(at(10), Datum(std::string("x  ")));  // char(3) keeps its padding
  EXPECT_EQ(at(12), Datum(Blob{std::string("\x00\xff", 2)}));
  EXPECT_EQ(at(13), Datum(Date{Date::kInfinity}));
  EXPECT_EQ(at(14), Datum(Time{86400000000}));
  EXPECT_EQ(at(15), Datum(TimeTz{3723500000, 19800}));
  EXPECT_EQ(at(16), Datum(Timestamp{-Timestamp::kInfinity}));
  EXPECT_EQ(at(17), Datum(Timestamp{1709202896789012}));
  EXPECT_EQ(at(18), Datum(Interval{14, -3, 14706500000}));
  EXPECT_EQ(at(19), Datum(Uuid{(UInt128{0xa0eebc999c0b4ef8ull} << 64) | 0xbb6d6bb9bd380a11ull}));
  EXPECT_EQ(at(20), Datum(std::string("{\"a\": [1, 2]}")));
  EXPECT_EQ(at(21), Datum(std::string("{\"b\": null}")));
  EXPECT_EQ(at(22), Datum(List{}));
  EXPECT_EQ(at(23),
            Datum(List{{Datum(std::string("a b")), Datum(Null{}), Datum(std::string("q\""))}}));
  EXPECT_EQ(at(24), Datum(std::string("happy")));
  EXPECT_EQ(at(25), Datum(Decimal{1250, 2}));
  EXPECT_EQ(at(26), Datum(List{{Datum(Decimal{125, 2}), Datum(Null{})}}));
  EXPECT_EQ(at(27), Datum(std::string("10.0.0.1/8")));
  EXPECT_EQ(at(28), Datum(std::string("$12.34")));

  for (size_t i = 1; i < rows[1].second.size(); ++i) {
    EXPECT_EQ(rows[1].second[i], std::optional<Datum>(Null{})) << rel.columns[i].name;
  }
  const auto& third = rows[2].second;
  EXPECT_EQ(std::get<std::string>(*third[8]).size(), 32768u * 32);
  EXPECT_EQ(third[13],
            std::optional<Datum>(Date{-735160}));  // 0044-03-15 BC, as PostgreSQL counts it
  EXPECT_EQ(third[16], std::optional<Datum>(Timestamp{946684799999999}));

  // DuckDB accepts every mapped type name.
  auto db = duck::Database::Open(":memory:");
  auto conn = duck::Connection::Open(*db);
  std::string ddl = "CREATE TABLE t (";
  for (size_t i = 0; i < names.size(); ++i) {
    ddl += (i ? ", c" : "c") + std::to_string(i) + " " + names[i];
  }
  EXPECT_TRUE(conn->Execute(ddl + ")"));
}

// Binary mode must yield exactly what text mode yields, for every type it can read.
TEST_F(TypesTest, BinaryModeMatchesTextMode) {
  Exec("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  Exec(R"(CREATE TABLE bin (
      id int PRIMARY KEY, i2 int2, i8 int8, f4 float4, f8 float8, n numeric(12,3),
      n_free numeric, b bool, t text, bp char(3), ba bytea, d date, tm time, ttz timetz,
      ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb, ia int[],
      ta text[], m mood))");
  const std::string values[] = {
      "(1, -32768, 9223372036854775807, 1.5, '-Infinity', -123456789.125, 0.00001, true, "
      "'Grüße ✓', 'x', '\\x00ff', '2024-02-29', '23:59:59.999999', '01:02:03.5-05:30', "
      "'-infinity', '2024-02-29 12:34:56.789012+02', '1 year 2 mons -3 days 04:05:06.5', "
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '[1, 2]', '{\"b\": null}', '{1,NULL,3}', "
      "'{\"a b\",\"\"}', 'happy')",
      "(2, 0, -1, 'Infinity', 0, 0, -12345678901234567890.5, false, '', 'abc', '\\x', "
      "'infinity', '00:00:00', '00:00:00+00', 'infinity', '-infinity', '-1 days', "
      "'00000000-0000-0000-0000-000000000000', 'null', '1', '{}', '{}', 'sad')",
      "(3, NULL, NULL, NULL, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, '0044-03-15 BC', NULL, "
      "NULL, '1999-12-31 23:59:59.999999', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"};
  auto text = Capture::Start({.conninfo = AdminConninfo(),
                              .slot = "types_text",
                              .temporary_slot = true,
                              .publication = "types_pub",
                              .spill_dir = ::testing::TempDir()});
  ASSERT_TRUE(text) << text.error().message;
  const auto binary_rows = CaptureRows(
      [&] {
        for (const std::string& row : values) Exec("INSERT INTO bin VALUES " + row);
      },
      3, /*binary=*/true);
  std::vector<std::vector<std::optional<Datum>>> text_rows;
  while (text_rows.size() < 3) {
    auto ok = (*text)->Poll(std::chrono::milliseconds(200), [&](CommittedTransaction&& t) {
      return t.ForEach([&](const Change& change) -> Status {
        auto row = ParseTuple(*change.relation, change.new_tuple);
        if (!row) return std::unexpected(row.error());
        text_rows.push_back(std::move(*row));
        return {};
      });
    });
    ASSERT_TRUE(ok) << ok.error().message;
  }
  ASSERT_EQ(binary_rows.size(), 3u);
  EXPECT_GT(binary_values_, 40);  // PostgreSQL really sent binary values
  for (size_t r = 0; r < 3; ++r) {
    const auto& bin = binary_rows[r].second;
    ASSERT_EQ(bin.size(), text_rows[r].size());
    for (size_t c = 0; c < bin.size(); ++c) {
      EXPECT_EQ(bin[c], text_rows[r][c])
          << "row " << r << " column " << binary_rows[r].first->columns[c].name;
    }
  }
}

}  // namespace
}  // namespace walden::testing
