#include "query/history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace walden::query {
namespace {

// 2026-12-01 09:00:00 UTC in µs.
constexpr int64_t kNine = 1796115600LL * 1000000;
constexpr int64_t kMinute = 60LL * 1000000;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = std::make_unique<duck::Database>(*duck::Database::Open(":memory:"));
    conn_ = std::make_unique<duck::Connection>(*duck::Connection::Open(*database_));
    ASSERT_TRUE(conn_->Execute("SET TimeZone = 'UTC'"));
  }
  HistoryReads Reads(const std::string& sql) {
    auto reads = FindHistoryReads(*conn_, sql);
    EXPECT_TRUE(reads) << reads.error().message;
    return reads.value_or(HistoryReads{});
  }
  std::unique_ptr<duck::Database> database_;
  std::unique_ptr<duck::Connection> conn_;
};

const QualifiedName kOrders{"public", "orders"};
const QualifiedName kItems{"public", "items"};

TEST_F(HistoryTest, AQueryOfTheMirrorReadsNoHistory) {
  EXPECT_TRUE(Reads("SELECT * FROM public.orders WHERE id = 1").empty());
}

TEST_F(HistoryTest, CommitTimeBoundsBecomeTheWindow) {
  const auto reads = Reads(
      "SELECT count(*) FROM history.public.orders o WHERE o._walden_commit_ts >= "
      "'2026-12-01 09:00'::TIMESTAMPTZ AND _walden_commit_ts < TIMESTAMPTZ '2026-12-01 09:05' "
      "AND o.status = 'paid'");
  ASSERT_EQ(reads.size(), 1u);
  const Window& w = reads.at(kOrders).at(0);
  EXPECT_EQ(w.min_time, kNine);
  EXPECT_EQ(w.max_time, kNine + 5 * kMinute);
  EXPECT_TRUE(w.Bounded());
}

TEST_F(HistoryTest, ExpressionsLsnRangesAndReversedComparisonsBound) {
  auto w = Reads(
               "SELECT * FROM history.public.orders WHERE _walden_commit_ts > now() - "
               "INTERVAL 1 HOUR")
               .at(kOrders)
               .at(0);
  EXPECT_GT(w.min_time, 0);
  EXPECT_EQ(w.max_time, std::numeric_limits<int64_t>::max());
  w = Reads("SELECT * FROM history.public.orders WHERE _walden_lsn BETWEEN 100 AND 200")
          .at(kOrders)
          .at(0);
  EXPECT_EQ(w.min_lsn, 100u);
  EXPECT_EQ(w.max_lsn, 200u);
  w = Reads("SELECT * FROM history.public.orders WHERE 500 > _walden_lsn").at(kOrders).at(0);
  EXPECT_EQ(w.max_lsn, 500u);
  EXPECT_EQ(w.min_lsn, 0u);
}

TEST_F(HistoryTest, WhatDoesNotBoundEveryRowIsUnbounded) {
  for (const char* sql :
       {"SELECT * FROM history.public.orders",
        "SELECT * FROM history.public.orders WHERE _walden_commit_ts > '2026-12-01' OR id = 1",
        "SELECT * FROM history.public.orders WHERE _walden_lsn > id",
        "SELECT * FROM history.public.orders WHERE _walden_lsn > (SELECT 5)",
        "DESCRIBE history.public.orders"}) {
    const auto reads = Reads(sql);
    ASSERT_FALSE(reads.empty()) << sql;
    bool unbounded = false;
    for (const auto& [table, windows] : reads) {
      for (const Window& w : windows) unbounded = unbounded || !w.Bounded();
    }
    EXPECT_TRUE(unbounded) << sql;
  }
}

TEST_F(HistoryTest, EachReferenceGetsItsOwnBounds) {
  const auto reads = Reads(
      "WITH recent AS (SELECT * FROM history.public.items WHERE _walden_lsn >= 10) "
      "SELECT * FROM history.public.orders o JOIN recent i ON i.order_id = o.id "
      "WHERE o._walden_lsn <= 99");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads.at(kOrders).at(0).max_lsn, 99u);
  EXPECT_EQ(reads.at(kOrders).at(0).min_lsn, 0u);
  EXPECT_EQ(reads.at(kItems).at(0).min_lsn, 10u);
}

TEST_F(HistoryTest, KeyEqualityBoundsItsOwnTableOnly) {
  auto w = Reads("SELECT * FROM history.public.orders WHERE id = 40 + 2").at(kOrders).at(0);
  EXPECT_EQ(w.equals, (std::map<std::string, std::string>{{"id", "42"}}));
  EXPECT_TRUE(w.Bounded());
  // Unqualified beside another table, `id` may be the other table's: no bound from it.
  w = Reads(
          "SELECT * FROM history.public.orders h JOIN public.orders m ON m.id = h.id "
          "WHERE id = 7 AND h.status = 'paid'")
          .at(kOrders)
          .at(0);
  EXPECT_EQ(w.equals, (std::map<std::string, std::string>{{"status", "paid"}}));
}

archive::SegmentFile File(const QualifiedName& table, int64_t from, int64_t to, uint64_t lsn,
                          int64_t bytes) {
  return {.table = table,
          .first_lsn = lsn,
          .last_lsn = lsn + 9,
          .rows = 10,
          .bytes = bytes,
          .min_commit_time = from,
          .max_commit_time = to,
          .key = table.name + "/" + std::to_string(lsn)};
}

TEST(HistoryPlan, ReadsOnlyTheFilesOfTheWindowAndPricesThem) {
  archive::ArchiveState state;
  for (int i = 0; i < 12; ++i) {  // one file per 5 minutes from 09:00
    const auto f = File(kOrders, kNine + i * 5 * kMinute, kNine + (i + 1) * 5 * kMinute - 1,
                        100 + i * 10, 1000000);
    state.live[f.key] = f;
  }
  const auto other = File(kItems, kNine, kNine + 60 * kMinute, 100, 5000);
  state.live[other.key] = other;
  HistoryReads reads;
  reads[kOrders].push_back({.min_time = kNine + 10 * kMinute, .max_time = kNine + 20 * kMinute});
  const HistoryPlan plan = PlanHistory(state, reads, /*remote=*/true, {});
  EXPECT_EQ(plan.files, 3);  // 09:10-09:15, 09:15-09:20, and the one starting at 09:20
  EXPECT_EQ(plan.bytes, 3000000);
  EXPECT_EQ(plan.requests, 3);
  EXPECT_FALSE(plan.unbounded);
  EXPECT_EQ(plan.Preview(),
            "history: 3 of 12 files, 2.9 MB, 3 GET requests, ~$0.0003 (public.orders: 3 of 12 "
            "files)");
  const HistoryPlan local = PlanHistory(state, reads, /*remote=*/false, {});
  EXPECT_EQ(local.requests, 0);
  EXPECT_EQ(local.price, 0);
  reads[kItems].push_back({});
  const HistoryPlan scan = PlanHistory(state, reads, true, {});
  EXPECT_TRUE(scan.unbounded);
  EXPECT_THAT(scan.Preview(),
              ::testing::HasSubstr("public.items: 1 of 1 files, no time or LSN bound"));
}

TEST(HistoryPlan, AKeyLookUpReadsTheFilesWhoseKeyRangeHoldsIt) {
  archive::ArchiveState state;
  for (int i = 0; i < 10; ++i) {  // file i holds ids i*100 … i*100+99
    auto f = File(kOrders, kNine + i * kMinute, kNine + i * kMinute + 1, 100 + i * 10, 1000);
    f.key_range = archive::KeyRange{.column = "id",
                                    .numeric = true,
                                    .min = std::to_string(i * 100),
                                    .max = std::to_string(i * 100 + 99)};
    state.live[f.key] = f;
  }
  auto unknown = File(kOrders, kNine, kNine + 20 * kMinute, 900, 1000);  // no range recorded
  state.live[unknown.key] = unknown;
  HistoryReads reads;
  reads[kOrders].push_back({.equals = {{"id", "420"}}});
  EXPECT_EQ(PlanHistory(state, reads, false, {}).files, 2);  // file 4 and the one without
  reads[kOrders][0].equals["id"] = "not a number";           // cannot be compared: read everything
  EXPECT_EQ(PlanHistory(state, reads, false, {}).files, 11);
}

TEST(HistoryPlan, ARemoteFileIsReadByTheRowGroupsOfTheWindow) {
  archive::ArchiveState state;
  // One file of an hour in six row groups of ten minutes, 1 MB each, a 1,000-byte footer.
  auto f = File(kOrders, kNine, kNine + 60 * kMinute - 1, 100, 4 + 6 * 1000000 + 1000);
  for (int g = 0; g < 6; ++g) {
    f.row_groups.push_back({.offset = 4 + g * 1000000,
                            .length = 1000000,
                            .rows = 10,
                            .min_commit_time = kNine + g * 10 * kMinute,
                            .max_commit_time = kNine + (g + 1) * 10 * kMinute - 1,
                            .min_lsn = 100u + g,
                            .max_lsn = 100u + g,
                            .key_min = std::to_string(g * 10),
                            .key_max = std::to_string(g * 10 + 9)});
  }
  f.footer_sha256 = "f";
  f.key_range = archive::KeyRange{.column = "id", .numeric = true, .min = "0", .max = "59"};
  state.live[f.key] = f;
  HistoryReads reads;
  reads[kOrders].push_back({.min_time = kNine + 12 * kMinute, .max_time = kNine + 25 * kMinute});
  const HistoryPlan plan = PlanHistory(state, reads, /*remote=*/true, {});
  ASSERT_EQ(plan.tables.size(), 1u);
  EXPECT_EQ(plan.tables[0].row_groups.at(0), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(plan.bytes, 4 + 2000000 + 1000);  // the magic, two row groups, the footer
  EXPECT_EQ(plan.requests, 3);                // the row groups are adjacent: one GET
  EXPECT_EQ(plan.Preview(),
            "history: 1 of 1 files (2 of their 6 row groups by ranged reads), 1.9 MB, 3 GET "
            "requests, ~$0.0002 (public.orders: 1 of 1 files)");
  // By LSN as well; the whole file when every row group is needed, in a local folder (DuckDB
  // skips row groups itself there), and for readers of whole files (the as-of rebuild).
  reads[kOrders][0] = {.min_lsn = 105};
  EXPECT_EQ(PlanHistory(state, reads, true, {}).tables[0].row_groups.at(0),
            (std::vector<size_t>{5}));
  reads[kOrders][0] = {.equals = {{"id", "33"}}};  // a key look-up: the group's key range
  EXPECT_EQ(PlanHistory(state, reads, true, {}).tables[0].row_groups.at(0),
            (std::vector<size_t>{3}));
  reads[kOrders][0] = {.min_time = kNine};
  EXPECT_FALSE(PlanHistory(state, reads, true, {}).tables[0].row_groups.at(0));
  EXPECT_EQ(PlanHistory(state, reads, true, {}).requests, 1);
  reads[kOrders][0] = {.min_lsn = 105};
  EXPECT_FALSE(PlanHistory(state, reads, false, {}).tables[0].row_groups.at(0));
  EXPECT_FALSE(
      PlanHistory(state, reads, true, {}, /*whole_files=*/true).tables[0].row_groups.at(0));
  // Files of older walden (no row groups recorded) are read whole.
  state.live[f.key].row_groups.clear();
  EXPECT_FALSE(PlanHistory(state, reads, true, {}).tables[0].row_groups.at(0));
}

}  // namespace
}  // namespace walden::query
