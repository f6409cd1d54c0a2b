#include "pipeline/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace walden::pipeline {
namespace {

using ::testing::HasSubstr;

RunStatus Example() {
  mirror::TableStatus table{.state = "streaming", .version = 2, .inserts = 5, .deletes = 1};
  table.def.name = {"Sales \"EU\"", "line\\items"};
  return {.slot = "walden",
          .received = Lsn{0x10},
          .confirmed = Lsn{0x8},
          .slot_lag_bytes = 4096,
          .transactions = 3,
          .changes = 6,
          .mirror_watermark = Lsn{0x8},
          .tables = {table}};
}

TEST(Status, PrometheusTextEscapesLabelsAndWritesCumulativeBuckets) {
  Histogram latency;
  latency.Observe(0.0625);
  latency.Observe(0.5);
  RunStatus status = Example();
  status.errors["archive_flush/connection"] = 2;
  const std::string text = PrometheusText(status, {.commit_to_mirror = latency.Take(),
                                                   .mirror_merge = {},
                                                   .commit_to_archive = {},
                                                   .archive_flush = {}});
  EXPECT_THAT(text,
              HasSubstr("walden_errors_total{where=\"archive_flush\",kind=\"connection\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE walden_transactions_total counter\n"
                              "walden_transactions_total 3\n"));
  EXPECT_THAT(text, HasSubstr("walden_slot_lag_bytes 4096\n"));
  EXPECT_THAT(text, HasSubstr("walden_mirror_rows_total{table=\"\\\"Sales \\\"\\\"EU\\\"\\\"\\\"."
                              "\\\"line\\\\items\\\"\",op=\"insert\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("walden_commit_to_mirror_seconds_bucket{le=\"0.05\"} 0\n"
                              "walden_commit_to_mirror_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("walden_commit_to_mirror_seconds_bucket{le=\"+Inf\"} 2\n"
                              "walden_commit_to_mirror_seconds_sum 0.5625\n"
                              "walden_commit_to_mirror_seconds_count 2\n"));
  EXPECT_THAT(text, HasSubstr("walden_sink_watermark_lsn_bytes{sink=\"mirror\"} 8\n"));
}

TEST(Status, JsonNamesSlotSinksAndTables) {
  const auto json = nlohmann::json::parse(StatusJson(Example()));
  EXPECT_EQ(json["slot"]["received_lsn"], "0/10");
  EXPECT_EQ(json["slot"]["lag_bytes"], 4096);
  EXPECT_EQ(json["tables"][0]["table"], "\"Sales \"\"EU\"\"\".\"line\\items\"");
  EXPECT_EQ(json["tables"][0]["rows"]["delete"], 1);
  EXPECT_EQ(json["tables"][0]["schema_version"], 2);
}

}  // namespace
}  // namespace walden::pipeline
