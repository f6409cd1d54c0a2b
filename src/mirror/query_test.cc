#include "mirror/query.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace walden::mirror {
namespace {

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = std::make_unique<duck::Database>(*duck::Database::Open(":memory:"));
    auto conn = duck::Connection::Open(*database_);
    ASSERT_TRUE(conn->Execute(
        "SET TimeZone = 'UTC'; CREATE SCHEMA public; CREATE TABLE public.t (id INTEGER, "
        "\"naïve name\" VARCHAR, \"at\" TIMESTAMPTZ, u UUID); INSERT INTO public.t VALUES (1, "
        "'a,b', "
        "'2026-11-21 10:00:00+00', '00000000-0000-4000-8000-000000000001'), (22, NULL, NULL, "
        "NULL)"));
  }
  std::unique_ptr<duck::Database> database_;
};

TEST_F(QueryTest, PrintsAlignedTableCsvAndJsonLinesWithEveryType) {
  const std::string sql = "SELECT * FROM public.t ORDER BY id;";
  EXPECT_EQ(*RunQuery(*database_, sql, OutputFormat::kTable),
            "id | naïve name | at                     | u\n"
            "---+------------+------------------------+-------------------------------------\n"
            "1  | a,b        | 2026-11-21 10:00:00+00 | 00000000-0000-4000-8000-000000000001\n"
            "22 | NULL       | NULL                   | NULL\n"
            "(2 rows)\n");
  EXPECT_EQ(*RunQuery(*database_, sql, OutputFormat::kCsv),
            "id,naïve name,at,u\n1,\"a,b\",2026-11-21 10:00:00+00,"
            "00000000-0000-4000-8000-000000000001\n22,,,\n");
  EXPECT_EQ(*RunQuery(*database_, "SELECT id, \"naïve name\" FROM public.t WHERE id = 1",
                      OutputFormat::kJsonLines),
            "{\"id\":\"1\",\"naïve name\":\"a,b\"}\n");
}

TEST_F(QueryTest, OnlyStatementsThatReturnRowsRun) {
  EXPECT_TRUE(RunQuery(*database_, "DESCRIBE public.t", OutputFormat::kCsv));
  auto refused = RunQuery(*database_, "DELETE FROM public.t", OutputFormat::kTable);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kUsage);
  EXPECT_TRUE(refused.error().message.ends_with(
      "(walden query runs one read-only statement that returns rows: SELECT, DESCRIBE, SHOW, "
      "SUMMARIZE)"))
      << refused.error().message;
  EXPECT_EQ(*RunQuery(*database_, "SELECT count(*) AS n FROM public.t", OutputFormat::kCsv),
            "n\n2\n");
  EXPECT_FALSE(ParseOutputFormat("xml"));
  EXPECT_EQ(ParseOutputFormat("xml").error().message,
            "unknown format \"xml\"; use table, csv or json");
}

TEST_F(QueryTest, HistoryViewsReadTheArchivedFiles) {
  const std::string dir = ::testing::TempDir() + "/history_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto conn = duck::Connection::Open(*database_);
  ASSERT_TRUE(
      conn->Execute("COPY (SELECT 1 AS id, 'c' AS _walden_op UNION ALL SELECT 1, 'u') TO '" + dir +
                    "/a.parquet' (FORMAT parquet)"));
  ASSERT_TRUE(conn->Execute("COPY (SELECT 1 AS id, 'd' AS _walden_op, 'x' AS extra) TO '" + dir +
                            "/b.parquet' (FORMAT parquet)"));
  const std::vector<HistoryTable> history = {
      {.name = {"Sales EU", "t"}, .files = {dir + "/a.parquet", dir + "/b.parquet"}}};
  EXPECT_EQ(
      *RunQuery(*database_, "SELECT _walden_op, extra FROM history.\"Sales EU\".t ORDER BY ALL",
                OutputFormat::kCsv, history),
      "_walden_op,extra\nc,\nd,x\nu,\n");
}

TEST_F(QueryTest, ExportsAConsistentDuckDbFileOrParquetAndRefusesToOverwrite) {
  const std::string dir = ::testing::TempDir() + "/export_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(Export(*database_, dir + "/copy.duckdb", ExportFormat::kDuckDb));
  {
    auto copy = duck::Database::Open(dir + "/copy.duckdb", /*read_only=*/true);
    ASSERT_TRUE(copy) << copy.error().message;
    EXPECT_EQ(*RunQuery(*copy, "SELECT count(*) AS n FROM public.t", OutputFormat::kCsv), "n\n2\n");
  }
  ASSERT_TRUE(Export(*database_, dir + "/parquet", ExportFormat::kParquet));
  EXPECT_TRUE(std::filesystem::exists(dir + "/parquet/schema.sql"));
  auto again = Export(*database_, dir + "/parquet", ExportFormat::kParquet);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message,
            dir + "/parquet exists; export writes a new copy, choose another path");
}

}  // namespace
}  // namespace walden::mirror
