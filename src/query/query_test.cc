#include "query/query.h"

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "mirror/export.h"

namespace walden::query {
namespace {

// The mirror's export is exercised here too: a copy it makes must answer queries.
using mirror::Export;
using mirror::ExportFormat;
using mirror::ExportTarget;
using mirror::MirrorCatalog;
using mirror::OpenReadOnly;
using mirror::ParseExportFormat;

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

// walden_status tables take the latest contents given, typed, and stay read-only.
TEST_F(QueryTest, StatusTablesAreTypedRefreshedAndReadOnly) {
  QueryOptions options;
  options.status = {
      {.name = "sinks",
       .columns = {{"sink", "VARCHAR"}, {"commits", "BIGINT"}, {"last_commit_at", "TIMESTAMPTZ"}},
       .rows = {{"archive", "7", "2026-12-02T10:00:00.000000Z"},
                {"it's \"quoted\"", std::nullopt, std::nullopt}}}};
  const std::string sql =
      "SELECT sink, commits + 1 AS next, last_commit_at FROM walden_status.sinks ORDER BY ALL";
  EXPECT_EQ(*RunQuery(*database_, sql, OutputFormat::kCsv, options),
            "sink,next,last_commit_at\narchive,8,2026-12-02 10:00:00+00\n"
            "\"it's \"\"quoted\"\"\",,\n");
  options.status[0].rows.pop_back();
  options.status[0].rows[0][1] = "8";
  EXPECT_EQ(*RunQuery(*database_, sql, OutputFormat::kCsv, options),
            "sink,next,last_commit_at\narchive,9,2026-12-02 10:00:00+00\n");
  auto refused =
      RunQuery(*database_, "DELETE FROM walden_status.sinks", OutputFormat::kCsv, options);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, ::testing::StartsWith("this is a DELETE statement"));
}

TEST_F(QueryTest, OnlyStatementsThatReturnRowsRun) {
  EXPECT_TRUE(RunQuery(*database_, "DESCRIBE public.t", OutputFormat::kCsv));
  auto refused = RunQuery(*database_, "DELETE FROM public.t", OutputFormat::kTable);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(refused.error().message,
            "this is a DELETE statement; (walden query runs one read-only statement that returns "
            "rows: SELECT, FROM, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE)");
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
                OutputFormat::kCsv, {.history = history}),
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
            dir + "/parquet exists; export writes a new copy: choose another path, or --replace");
  ASSERT_TRUE(Export(*database_, dir + "/parquet", ExportFormat::kParquet, /*replace=*/true));
  EXPECT_TRUE(std::filesystem::exists(dir + "/parquet/schema.sql"));
  // A .partial walden did not create is never removed.
  std::filesystem::create_directories(dir + "/mine.duckdb.partial");
  std::ofstream(dir + "/mine.duckdb.partial/keep") << "x";
  auto partial = Export(*database_, dir + "/mine.duckdb", ExportFormat::kDuckDb);
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().message,
            dir +
                "/mine.duckdb.partial exists (an interrupted export?); walden removes only what "
                "it created: delete it yourself, then export again");
  EXPECT_TRUE(std::filesystem::exists(dir + "/mine.duckdb.partial/keep"));
}

TEST(ExportTarget, OnlyInsideTheExportDirectory) {
  const std::string dir =
      std::filesystem::path(::testing::TempDir() + "/export_dir").lexically_normal().string();
  std::filesystem::remove_all(dir);
  EXPECT_EQ(*ExportTarget(dir, "copy.duckdb"), dir + "/copy.duckdb");
  EXPECT_EQ(*ExportTarget(dir, dir + "/sub/../copy.duckdb"), dir + "/copy.duckdb");
  const std::string outside =
      "a running walden exports only under mirror.export_dir (" + dir +
      "); {} is outside it: give a path there, set mirror.export_dir, or stop walden and export "
      "from the mirror file";
  for (const std::string& bad : {std::string("/etc/passwd"), std::string("../x"), dir,
                                 std::string(dir + "/.."), std::string(dir + "-evil/x")}) {
    auto refused = ExportTarget(dir, bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().message, fmt::format(fmt::runtime(outside), bad));
  }
  std::filesystem::create_directory_symlink("/tmp", dir + "/link");
  EXPECT_FALSE(ExportTarget(dir, "link/x.duckdb"));
  EXPECT_EQ(ExportTarget(dir, "").error().message,
            "export needs a path under mirror.export_dir (" + dir + ")");
}

// Everything found by running the old wrapper as a hostile user (issue: "the read-only query
// runs any statement"): each is refused by DuckDB's parser, binder or containment, and the
// mirror is unchanged afterwards.
TEST(QueryContainment, EscapesWritesAndFileReadsAreRefused) {
  const std::string dir =
      std::filesystem::path(::testing::TempDir() + "/contained").lexically_normal().string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/allowed");
  auto database = duck::Database::Open(dir + "/mirror.duckdb");
  ASSERT_TRUE(database);
  auto conn = duck::Connection::Open(*database);
  ASSERT_TRUE(
      conn->Execute("CREATE SCHEMA walden; CREATE TABLE walden.state (lsn BIGINT); "
                    "INSERT INTO walden.state VALUES (7); CREATE SEQUENCE s"));
  ASSERT_TRUE(database->Contain({dir + "/allowed"}));
  ASSERT_TRUE(conn->Execute("SET lock_configuration = true"));
  const std::string hint =
      "(walden query runs one read-only statement that returns rows: SELECT, FROM, WITH, "
      "VALUES, DESCRIBE, SHOW, SUMMARIZE)";
  auto error = [&](const std::string& sql) {
    auto result = RunQuery(*database, sql, OutputFormat::kCsv);
    return result ? "ran: " + *result : result.error().message;
  };
  const std::string escape = error("SELECT 1 AS a); COPY (SELECT 'x') TO '" + dir +
                                   "/owned' (HEADER false); SELECT * FROM (SELECT 1 AS b");
  EXPECT_THAT(escape, ::testing::StartsWith("DuckDB: Parser Error: syntax error at or near \")\""));
  EXPECT_THAT(escape, ::testing::EndsWith(hint));
  EXPECT_FALSE(std::filesystem::exists(dir + "/owned"));
  EXPECT_EQ(error("SELECT 1; SELECT 2"), "the text holds 2 statements; give exactly one\n" + hint);
  EXPECT_EQ(error("UPDATE walden.state SET lsn = 99"), "this is a UPDATE statement; " + hint);
  EXPECT_EQ(error("ATTACH '" + dir + "/allowed/x.duckdb' AS x"),
            "this is a ATTACH statement; " + hint);
  EXPECT_EQ(error("SET memory_limit = '1MB'"), "this is a SET statement; " + hint);
  EXPECT_EQ(error("PRAGMA threads = 1"), "this is a SET statement; " + hint);
  EXPECT_EQ(error("COPY walden.state TO '" + dir + "/allowed/x.csv'"),
            "this is a COPY statement; " + hint);
  EXPECT_EQ(error("INSTALL httpfs"), "this is a LOAD statement; " + hint);
  EXPECT_EQ(error("CHECKPOINT"), "this is a CALL statement; " + hint);
  EXPECT_THAT(error("SELECT nextval('s')"),
              ::testing::StartsWith("DuckDB: TransactionContext Error: Cannot write to database"));
  for (const std::string& read :
       {std::string("SELECT * FROM read_text('/etc/passwd')"),
        std::string("SELECT * FROM read_csv('/etc/passwd')"),
        std::string("SELECT * FROM glob('/root/*')"),
        "SELECT * FROM read_text('" + dir + "/allowed/../../../etc/passwd')"}) {
    EXPECT_THAT(error(read), ::testing::HasSubstr("file system operations are disabled by "
                                                  "configuration"))
        << read;
  }
  EXPECT_EQ(*RunQuery(*database, "SELECT lsn FROM walden.state", OutputFormat::kCsv), "lsn\n7\n");
  EXPECT_EQ(*RunQuery(*database, "SELECT current_setting('memory_limit') <> '1.0 MiB' AS kept",
                      OutputFormat::kCsv),
            "kept\ntrue\n");
}

TEST_F(QueryTest, ResultsAreBoundedInSizeAndTime) {
  auto big = RunQuery(*database_, "SELECT repeat('x', 1000) AS v FROM range(5000)",
                      OutputFormat::kCsv, {.max_bytes = size_t{1} << 20});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message,
            "the result is larger than 1MB (query.max_result) after 1048 rows; narrow it (WHERE, "
            "LIMIT, fewer "
            "columns), or copy the mirror with `walden mirror export`");
  auto slow = RunQuery(*database_, "SELECT count(*) FROM range(1000000000000) a",
                       OutputFormat::kCsv, {.timeout = std::chrono::milliseconds(300)});
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().message,
            "the query ran longer than 0 s (query.timeout) and was stopped; narrow it (WHERE, "
            "LIMIT), or query a "
            "copy from `walden mirror export`");
  // The connection is usable again and nothing leaked into the next query.
  EXPECT_EQ(*RunQuery(*database_, "SELECT count(*) AS n FROM public.t", OutputFormat::kCsv),
            "n\n2\n");
}

TEST_F(QueryTest, AQueryWhoseCallerCancelsStopsWithinAFractionOfASecond) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> asked{0};
  auto slow = RunQuery(*database_, "SELECT count(*) FROM range(1000000000000) a",
                       OutputFormat::kCsv, {.cancelled = [&] { return ++asked >= 3; }});
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().message, "the query was stopped: its client went away");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(*RunQuery(*database_, "SELECT count(*) AS n FROM public.t", OutputFormat::kCsv),
            "n\n2\n");
}

}  // namespace
}  // namespace walden::query
