#include "pipeline/canary.h"

#include <gtest/gtest.h>

namespace walden::pipeline {
namespace {

constexpr int64_t kSecond = 1000000;

TEST(Canary, ContentRoundTripsAndJunkIsRejected) {
  const CanaryBeat beat{.sequence = 42, .sent_at = 1795219200000000};
  EXPECT_EQ(CanaryContent(beat), "42 1795219200000000");
  auto back = ParseCanary(CanaryContent(beat));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sequence, 42u);
  EXPECT_EQ(back->sent_at, beat.sent_at);
  EXPECT_FALSE(ParseCanary("42"));
  EXPECT_FALSE(ParseCanary("x 1"));
  EXPECT_FALSE(ParseCanary("1 2 3"));
}

TEST(Canary, NamesTheFirstStageTheNewestHeartbeatHasNotPassed) {
  Canary canary(std::chrono::seconds(5), std::chrono::seconds(30), std::chrono::seconds(10));
  const int64_t t0 = 1000 * kSecond;
  auto beat = canary.Due(t0);
  ASSERT_TRUE(beat);
  EXPECT_FALSE(canary.Due(t0 + kSecond));
  canary.Received(*beat);
  canary.MirrorVisible(*beat, t0 + kSecond / 10);
  canary.ArchiveVisible(*beat);
  CanaryState state = canary.Check(t0 + kSecond);
  EXPECT_TRUE(state.fresh);
  EXPECT_DOUBLE_EQ(state.last_latency, 0.1);
  // Heartbeats keep arriving from capture, but no merge commits.
  for (int64_t t = t0 + 5 * kSecond; t <= t0 + 35 * kSecond; t += 5 * kSecond) {
    if (auto next = canary.Due(t)) canary.Received(*next);
  }
  state = canary.Check(t0 + 31 * kSecond);
  EXPECT_FALSE(state.fresh);
  EXPECT_EQ(state.stuck, "mirror");
  // Nothing received at all: capture.
  Canary quiet(std::chrono::seconds(5), std::chrono::seconds(30), std::chrono::seconds(10));
  (void)quiet.Due(t0);
  EXPECT_EQ(quiet.Check(t0 + 31 * kSecond).stuck, "capture");
  // The mirror is current but the archive lags past its slack.
  Canary archive(std::chrono::seconds(5), std::chrono::seconds(30), std::chrono::seconds(10));
  auto first = archive.Due(t0);
  archive.Received(*first);
  archive.MirrorVisible(*first, t0);
  auto late = archive.Due(t0 + 41 * kSecond);
  archive.Received(*late);
  archive.MirrorVisible(*late, t0 + 41 * kSecond);
  EXPECT_EQ(archive.Check(t0 + 41 * kSecond).stuck, "archive");
}

}  // namespace
}  // namespace walden::pipeline
