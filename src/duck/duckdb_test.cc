#include "duck/duckdb.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace walden::duck {
namespace {

TEST(DuckDb, ReportsTheLtsVersion) { EXPECT_EQ(LibraryVersion(), "v1.4.4"); }

TEST(DuckDb, QueriesAndNulls) {
  auto db = Database::Open(":memory:");
  ASSERT_TRUE(db);
  auto conn = Connection::Open(*db);
  ASSERT_TRUE(conn);
  auto result = conn->Query("SELECT 42 AS answer, NULL::VARCHAR AS nothing, 'héllo' AS s");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->rows(), 1u);
  EXPECT_EQ(result->ColumnName(0), "answer");
  EXPECT_EQ(result->Text(0, 0), "42");
  EXPECT_EQ(result->Text(0, 1), std::nullopt);
  EXPECT_EQ(result->Text(0, 2), "héllo");
}

TEST(DuckDb, ErrorsCarryDuckDbsMessage) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  auto result = conn->Query("SELECT * FROM missing_table");
  ASSERT_FALSE(result);
  EXPECT_TRUE(result.error().message.starts_with(
      "DuckDB: Catalog Error: Table with name missing_table does not exist!"))
      << result.error().message;
}

TEST(DuckDb, ExecuteCountReturnsTheRowsChanged) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  ASSERT_TRUE(conn->Execute("CREATE TABLE t (i INTEGER)"));
  EXPECT_EQ(conn->ExecuteCount("INSERT INTO t SELECT * FROM range(5)"), 5);
  EXPECT_EQ(conn->ExecuteCount("DELETE FROM t WHERE i < 2"), 2);
  auto bad = conn->ExecuteCount("INSERT INTO t VALUES ('x')");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("DuckDB: Conversion Error")) << bad.error().message;
}

TEST(DuckDb, SetThreadsAndBackToTheDefault) {
  auto db = Database::Open(":memory:");
  auto conn = Connection::Open(*db);
  auto threads = [&] { return conn->Query("SELECT current_setting('threads')")->Text(0, 0); };
  const auto initial = threads();
  ASSERT_TRUE(conn->SetThreads(1));
  EXPECT_EQ(threads(), "1");
  ASSERT_TRUE(conn->SetThreads(0));
  EXPECT_EQ(threads(), initial);
}

TEST(DuckDb, FilePersistsAndOpensReadOnly) {
  const std::string path = ::testing::TempDir() + "/duck_test.duckdb";
  std::filesystem::remove(path);
  {
    auto db = Database::Open(path);
    ASSERT_TRUE(db);
    auto conn = Connection::Open(*db);
    ASSERT_TRUE(conn->Execute("CREATE TABLE t AS SELECT range AS i FROM range(3)"));
  }
  auto db = Database::Open(path, /*read_only=*/true);
  ASSERT_TRUE(db) << db.error().message;
  auto conn = Connection::Open(*db);
  EXPECT_EQ(conn->Query("SELECT sum(i) FROM t")->Text(0, 0), "3");
  EXPECT_FALSE(conn->Execute("INSERT INTO t VALUES (9)"));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace walden::duck
