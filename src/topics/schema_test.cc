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

TEST(TopicsSchema, RunAcceptsOnlyTheVersionItWasBuiltFor) {
  EXPECT_TRUE(CheckVersion(0, 2, "shop"));
  EXPECT_TRUE(CheckVersion(2, 2, "shop"));
  const Status older = CheckVersion(1, 2, "shop");
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().message,
            "database shop has topics API version 1; this walden needs 2: run `walden topics "
            "init` to upgrade it (messages are kept)");
  EXPECT_EQ(older.error().kind, ErrorKind::kConfig);
  const Status newer = CheckVersion(3, 2, "shop");
  ASSERT_FALSE(newer);
  EXPECT_EQ(newer.error().message,
            "database shop has topics API version 3, newer than this walden's 2; use a newer "
            "walden");
}

}  // namespace
}  // namespace walden::topics
