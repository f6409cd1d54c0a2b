#include "topics/schema.h"

#include <gtest/gtest.h>

#include <fmt/core.h>

#include <string>

namespace walden::topics {
namespace {

TEST(TopicsSchema, FilesAreNumberedFromOneWithoutGaps) {
  int expected = 1;
  for (const SqlFile& file : SqlFiles()) {
    EXPECT_EQ(std::string(file.name).substr(0, 4), fmt::format("{:03}_", expected)) << file.name;
    EXPECT_FALSE(file.sql.empty()) << file.name;
    ++expected;
  }
  EXPECT_EQ(LatestVersion(), expected - 1);
  EXPECT_GE(LatestVersion(), 1);
}

TEST(TopicsSchema, TheFirstFileCreatesTheWholeApi) {
  const std::string_view sql = SqlFiles().front().sql;
  for (const char* function :
       {"walden.create_topic(", "walden.drop_topic(", "walden.produce(", "walden.consume(",
        "walden.read(", "walden.create_group(", "walden.seek(", "VIEW walden.group_lag",
        "walden.create_queue(", "walden.enqueue(", "walden.dequeue(", "walden.ack(",
        "walden.nack(", "walden.dead_letters(", "walden.redrive("}) {
    EXPECT_NE(sql.find(function), std::string_view::npos) << function;
  }
}

}  // namespace
}  // namespace walden::topics
