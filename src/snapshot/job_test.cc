#include "snapshot/job.h"

#include <gtest/gtest.h>

namespace walden::snapshot {
namespace {

Job Sample() {
  Job job{.id = "j1", .reason = "initial", .consistent_lsn = 1000};
  TableJob keyed{.name = {"public", "o\"rders"}, .planned = true, .estimated_rows = 30};
  keyed.chunks = {{.hi = std::vector<std::string>{"10"}, .delivered = 900, .rows = 10},
                  {.lo = std::vector<std::string>{"10"},
                   .hi = std::vector<std::string>{"20"},
                   .delivered = 950,
                   .rows = 10},
                  {.lo = std::vector<std::string>{"20"}, .delivered = 0}};
  TableJob loose{.name = {"s p", "log"}, .by_ctid = true};
  loose.chunks = {{.lo_page = 0, .hi_page = 8, .delivered = 901, .rows = 5},
                  {.lo_page = 8, .hi_page = -1, .delivered = 980, .rows = 1}};
  TableJob repair{.name = {"public", "t"}, .planned = true};
  repair.keys = {{"17", "eu"}, {"it's", "ü"}};
  repair.chunks = {{.delivered = 990, .rows = 1}};
  job.tables = {keyed, loose, repair};
  return job;
}

TEST(JobTest, RoundTripsThroughJson) {
  const Job job = Sample();
  auto back = JobFromJson(JobToJson(job));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(JobToJson(*back), JobToJson(job));
  EXPECT_EQ(back->tables[0].chunks[1].lo, std::vector<std::string>{"10"});
  EXPECT_EQ(back->tables[0].rows(), 20);
  EXPECT_EQ(back->tables[1].last_delivery(), 980u);
  EXPECT_EQ(back->tables[2].keys, job.tables[2].keys);
}

TEST(JobTest, AJobWrittenBeforeKeyRepairsLoadsWithout) {
  auto old =
      JobFromJson(R"({"id":"j","reason":"r","consistent_lsn":0,"tables":[{"schema":"s","name":"t",)"
                  R"("by_ctid":false,"reset":true,"reset_at":0,"planned":false,"read_all":false,)"
                  R"("estimated_rows":0,"chunks":[]}]})");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_TRUE(old->tables[0].keys.empty());
}

TEST(JobTest, DamagedFileSaysHowToRecover) {
  auto bad = JobFromJson("{\"id\": 1}");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("snapshot job file is damaged"), std::string::npos);
}

TEST(JobTest, ReconcileForgetsDeliveriesAboveTheDurablePoint) {
  Job job = Sample();
  Reconcile(job, Lsn{950});
  // Planned keyed chunks keep their bounds; the undelivered one is read again.
  EXPECT_EQ(job.tables[0].chunks.size(), 3u);
  EXPECT_EQ(job.tables[0].chunks[1].delivered, 950u);
  EXPECT_FALSE(job.tables[0].read_all);
  // A table without key that lost a chunk starts over, reset first.
  EXPECT_TRUE(job.tables[1].chunks.empty());
  EXPECT_TRUE(job.tables[1].reset);
  EXPECT_EQ(job.tables[1].reset_at, 0u);
}

TEST(JobTest, ReconcileCutsGrowingChunksAfterTheFirstLostOne) {
  Job job{.id = "j2", .reason = "request"};
  TableJob table{.name = {"public", "t"}, .reset = true, .reset_at = 100};
  table.chunks = {{.hi = std::vector<std::string>{"5"}, .delivered = 110, .rows = 5},
                  {.lo = std::vector<std::string>{"5"},
                   .hi = std::vector<std::string>{"9"},
                   .delivered = 130,
                   .rows = 5},
                  {.lo = std::vector<std::string>{"9"}, .delivered = 140, .rows = 2}};
  job.tables = {table};
  Reconcile(job, Lsn{120});
  ASSERT_EQ(job.tables[0].chunks.size(), 2u);
  EXPECT_EQ(job.tables[0].chunks[1].lo, std::vector<std::string>{"5"});
  EXPECT_FALSE(job.tables[0].chunks[1].hi);
  EXPECT_EQ(job.tables[0].chunks[1].delivered, 0u);
  EXPECT_EQ(job.tables[0].reset_at, 100u);
  Reconcile(job, Lsn{50});  // the reset itself was lost: everything again
  EXPECT_EQ(job.tables[0].reset_at, 0u);
  EXPECT_EQ(job.tables[0].chunks.size(), 1u);
  EXPECT_FALSE(job.tables[0].chunks[0].lo);
}

}  // namespace
}  // namespace walden::snapshot
