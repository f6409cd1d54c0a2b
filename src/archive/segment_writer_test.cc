#include "archive/segment_writer.h"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace walden::archive {
namespace {

using Rows = std::vector<std::vector<std::optional<std::string>>>;

Rows Query(const std::string& sql) {
  auto db = duck::Database::Open(":memory:");
  auto conn = duck::Connection::Open(*db);
  EXPECT_TRUE(conn->Execute("SET TimeZone = 'UTC'"));
  auto result = conn->Query(sql);
  EXPECT_TRUE(result) << sql << ": " << result.error().message;
  Rows rows;
  if (!result) return rows;
  for (size_t r = 0; r < result->rows(); ++r) {
    rows.emplace_back();
    for (size_t c = 0; c < result->columns(); ++c) rows.back().push_back(result->Text(r, c));
  }
  return rows;
}

// 2026-11-20T23:59:59Z and 2026-11-21T00:00:01Z, in µs.
constexpr int64_t kLateOnThe20th = 1795219199000000;
constexpr int64_t kEarlyOnThe21st = 1795219201000000;

TEST(SegmentWriter, WritesOneZstdParquetPerTableDayReadableByPlainDuckDb) {
  const std::string out = ::testing::TempDir() + "/segments";
  std::filesystem::remove_all(out);
  auto spool = Spool::Open(::testing::TempDir() + "/spool.duckdb", "64MB");
  ASSERT_TRUE(spool) << spool.error().message;
  const TableSchema orders{
      .name = {"public", "orders"},
      .columns = {"id", "total", "note"},
      .types = {ColumnType{.kind = TypeKind::kInt64},
                ColumnType{.kind = TypeKind::kDecimal, .precision = 10, .scale = 2},
                ColumnType{.kind = TypeKind::kText}}};
  const std::vector<ArchiveChange> changes = {
      {.op = 'c',
       .commit_lsn = 0x100,
       .seq = 0,
       .xid = 7,
       .commit_time = kLateOnThe20th,
       .values = {int64_t{1}, Decimal{950, 2}, std::string("first")}},
      {.op = 'u',
       .commit_lsn = 0x200,
       .seq = 0,
       .xid = 8,
       .commit_time = kEarlyOnThe21st,
       .values = {int64_t{1}, Decimal{1000, 2}, std::string("big")},
       .unchanged = {"note"}},
      {.op = 'd',
       .commit_lsn = 0x200,
       .seq = 1,
       .xid = 8,
       .commit_time = kEarlyOnThe21st,
       .values = {int64_t{2}, Null{}, Null{}},
       .before = std::string("{\"id\": 2}")}};
  ASSERT_TRUE((*spool)->Append(orders, changes));
  const TableSchema weird{.name = {"Weird/Schema", "Sélect"},
                          .columns = {"from"},
                          .types = {ColumnType{.kind = TypeKind::kText}}};
  const std::vector<ArchiveChange> weird_changes = {{.op = 'c',
                                                     .commit_lsn = 0x300,
                                                     .xid = 9,
                                                     .commit_time = kEarlyOnThe21st,
                                                     .values = {std::string("x")}}};
  ASSERT_TRUE((*spool)->Append(weird, weird_changes));
  EXPECT_EQ((*spool)->rows(), 4);

  auto files = (*spool)->WriteSegments(out);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].key,
            "tables/public/orders/dt=2026-11-20/0000000000000100-0000000000000100.parquet");
  EXPECT_EQ((*files)[1].key,
            "tables/public/orders/dt=2026-11-21/0000000000000200-0000000000000200.parquet");
  EXPECT_EQ((*files)[1].rows, 2);
  EXPECT_EQ((*files)[1].min_commit_time, kEarlyOnThe21st);
  EXPECT_EQ((*files)[2].key,
            "tables/Weird%2FSchema/Sélect/dt=2026-11-21/0000000000000300-0000000000000300.parquet");
  for (const SegmentFile& file : *files) {
    EXPECT_EQ(static_cast<int64_t>(std::filesystem::file_size(file.local_path)), file.bytes);
  }

  // Plain DuckDB, no walden: the design's one-liner.
  const std::string glob = out + "/tables/public/*/*/*.parquet";
  EXPECT_EQ(Query("SELECT id, total::VARCHAR, note, _walden_op, _walden_lsn, _walden_seq, "
                  "_walden_xid, _walden_commit_ts::VARCHAR, _walden_before::VARCHAR, "
                  "_walden_unchanged::VARCHAR, dt::VARCHAR FROM read_parquet('" +
                  glob + "', hive_partitioning = true) ORDER BY _walden_lsn, _walden_seq"),
            (Rows{{"1", "9.50", "first", "c", "256", "0", "7", "2026-11-20 23:59:59+00",
                   std::nullopt, "[]", "2026-11-20"},
                  {"1", "10.00", "big", "u", "512", "0", "8", "2026-11-21 00:00:01+00",
                   std::nullopt, "[note]", "2026-11-21"},
                  {"2", std::nullopt, std::nullopt, "d", "512", "1", "8", "2026-11-21 00:00:01+00",
                   "{\"id\": 2}", "[]", "2026-11-21"}}));
  EXPECT_EQ(Query("SELECT DISTINCT compression FROM parquet_metadata('" + glob + "')"),
            (Rows{{"ZSTD"}}));
  EXPECT_EQ(Query("SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet('" + glob +
                  "')) WHERE column_name IN ('total', '_walden_lsn', '_walden_commit_ts') "
                  "ORDER BY column_name"),
            (Rows{{"TIMESTAMP WITH TIME ZONE"}, {"UBIGINT"}, {"DECIMAL(10,2)"}}));

  ASSERT_TRUE((*spool)->Clear());
  EXPECT_EQ((*spool)->rows(), 0);
  auto empty = (*spool)->WriteSegments(out);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// Bulk rows skip the spool: their file must be what spooling the same rows would give.
TEST(SegmentWriter, AQuerySegmentEqualsTheSpooledSegmentOfTheSameRows) {
  const std::string out = ::testing::TempDir() + "/query-segments";
  std::filesystem::remove_all(out);
  auto spool = Spool::Open(":memory:", "64MB");
  ASSERT_TRUE(spool);
  const TableSchema orders{
      .name = {"public", "orders"},
      .columns = {"id", "total", "from"},
      .types = {ColumnType{.kind = TypeKind::kInt64},
                ColumnType{.kind = TypeKind::kDecimal, .precision = 10, .scale = 2},
                ColumnType{.kind = TypeKind::kText}},
      .key_column = 0};
  const ArchiveChange like{.op = 'r', .commit_lsn = 0x100, .xid = 7, .commit_time = kLateOnThe20th};
  auto writer = duck::Connection::Open((*spool)->database());
  ASSERT_TRUE(writer);
  auto file = WriteQuerySegment(
      *writer, orders,
      "SELECT * FROM (VALUES (1::BIGINT, 9.5::DECIMAL(10,2), 'a'), (2, NULL, NULL)) t(c0, c1, c2)",
      like, out + "/bulk");
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->key,
            "tables/public/orders/dt=2026-11-20/0000000000000100-0000000000000100.parquet");
  EXPECT_EQ(file->rows, 2);
  EXPECT_EQ(file->min_commit_time, kLateOnThe20th);
  EXPECT_EQ(static_cast<int64_t>(std::filesystem::file_size(file->local_path)), file->bytes);
  EXPECT_EQ((*spool)->rows(), 0);  // not spooled
  ASSERT_TRUE(file->key_range);    // recorded as flushes record it, for key look-ups
  EXPECT_EQ(file->key_range->min, "1");
  EXPECT_EQ(file->key_range->max, "2");
  EXPECT_TRUE(file->key_range->numeric);
  ASSERT_EQ(file->row_groups.size(), 1u);
  EXPECT_EQ(file->row_groups[0].key_max, "2");

  std::vector<ArchiveChange> changes(2, like);
  changes[0].seq = 1;
  changes[0].values = {int64_t{1}, Decimal{950, 2}, std::string("a")};
  changes[1].seq = 2;
  changes[1].values = {int64_t{2}, Null{}, Null{}};
  ASSERT_TRUE((*spool)->Append(orders, changes));
  auto spooled = (*spool)->WriteSegments(out + "/spooled");
  ASSERT_TRUE(spooled);
  ASSERT_EQ(spooled->size(), 1u);
  const std::string both = "SELECT * FROM read_parquet('" + file->local_path + "') EXCEPT ALL " +
                           "SELECT * FROM read_parquet('" + (*spooled)[0].local_path + "')";
  EXPECT_EQ(Query("SELECT count(*) FROM (" + both + ")"), (Rows{{"0"}}));
  const std::string schema =
      "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
      "read_parquet('{}'))";
  EXPECT_EQ(Query(fmt::format(fmt::runtime(schema), file->local_path)),
            Query(fmt::format(fmt::runtime(schema), (*spooled)[0].local_path)));

  auto bad = WriteQuerySegment(*writer, orders, "SELECT 'x'::BIGINT, 1, 'a'", like, out + "/bad");
  ASSERT_FALSE(bad);
  EXPECT_FALSE(std::filesystem::exists(out + "/bad/" + file->key));
}

// ALTER TABLE inside a transaction: rows of two schema versions share one commit LSN and
// must land in one file (one key), with the columns of both.
TEST(SegmentWriter, SchemaVersionsOfOneFlushShareTheirFiles) {
  const std::string out = ::testing::TempDir() + "/segments-versions";
  std::filesystem::remove_all(out);
  auto spool = Spool::Open(":memory:", "64MB");
  ASSERT_TRUE(spool);
  const TableSchema v1{
      .name = {"public", "t"},
      .version = 1,
      .columns = {"id", "a"},
      .types = {ColumnType{.kind = TypeKind::kInt64}, ColumnType{.kind = TypeKind::kInt16}}};
  const TableSchema v2{
      .name = {"public", "t"},
      .version = 2,
      .columns = {"id", "a", "b"},
      .types = {ColumnType{.kind = TypeKind::kInt64}, ColumnType{.kind = TypeKind::kInt64},
                ColumnType{.kind = TypeKind::kText}}};
  const std::vector<ArchiveChange> before = {{.op = 'c',
                                              .commit_lsn = 0x500,
                                              .seq = 0,
                                              .commit_time = kEarlyOnThe21st,
                                              .values = {int64_t{1}, int64_t{7}}}};
  const std::vector<ArchiveChange> after = {
      {.op = 'c',
       .commit_lsn = 0x500,
       .seq = 1,
       .commit_time = kEarlyOnThe21st,
       .values = {int64_t{2}, int64_t{40000}, std::string("new")}}};
  ASSERT_TRUE((*spool)->Append(v1, before));
  ASSERT_TRUE((*spool)->Append(v2, after));
  auto files = (*spool)->WriteSegments(out);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].rows, 2);
  EXPECT_EQ((*files)[0].schema_version, 2);
  EXPECT_EQ(Query("SELECT id, a, b FROM read_parquet('" + (*files)[0].local_path +
                  "') ORDER BY _walden_seq"),
            (Rows{{"1", "7", std::nullopt}, {"2", "40000", "new"}}));
}

TEST(SegmentWriter, EncodesOnlyWhatCannotBeAPathSegment) {
  EXPECT_EQ(EncodePathSegment("orders"), "orders");
  EXPECT_EQ(EncodePathSegment("My Table ✓"), "My Table ✓");
  EXPECT_EQ(EncodePathSegment("a/b%c"), "a%2Fb%25c");
  EXPECT_EQ(EncodePathSegment(".."), "%2E.");
  EXPECT_EQ(EncodePathSegment("tab\tx"), "tab%09x");
}

}  // namespace
}  // namespace walden::archive
