#include "common/metrics_text.h"

#include <gtest/gtest.h>

namespace walden {
namespace {

constexpr const char* kText =
    "# HELP walden_commit_to_mirror_seconds Source commit to visible in the mirror.\n"
    "# TYPE walden_commit_to_mirror_seconds histogram\n"
    "walden_commit_to_mirror_seconds_bucket{le=\"0.1\"} 50\n"
    "walden_commit_to_mirror_seconds_bucket{le=\"0.25\"} 90\n"
    "walden_commit_to_mirror_seconds_bucket{le=\"0.5\"} 100\n"
    "walden_commit_to_mirror_seconds_bucket{le=\"+Inf\"} 100\n"
    "walden_commit_to_mirror_seconds_sum 12.5\n"
    "walden_commit_to_mirror_seconds_count 100\n"
    "walden_changes_total 7\n";

TEST(MetricsText, QuantilesInterpolateInsideTheBucket) {
  const auto histograms = ParseHistograms(kText);
  ASSERT_EQ(histograms.size(), 1u);
  const Buckets& b = histograms.at("walden_commit_to_mirror_seconds");
  EXPECT_EQ(b.count(), 100u);
  EXPECT_DOUBLE_EQ(b.Quantile(0.5), 0.1);
  EXPECT_DOUBLE_EQ(b.Quantile(0.7), 0.1 + 0.15 * 0.5);
  EXPECT_DOUBLE_EQ(b.Quantile(0.95), 0.25 + 0.25 * 0.5);
  EXPECT_DOUBLE_EQ(b.MaxBound(), 0.5);
}

TEST(MetricsText, DeltaKeepsOnlyWhatHappenedBetweenTwoReadings) {
  const Buckets after = ParseHistograms(kText).at("walden_commit_to_mirror_seconds");
  Buckets before = after;
  before.cumulative = {50, 50, 50, 50};
  const Buckets delta = Delta(after, before);
  EXPECT_EQ(delta.count(), 50u);
  EXPECT_DOUBLE_EQ(delta.Quantile(0.8), 0.1 + 0.15);  // 40 in (0.1, 0.25], 10 above
  EXPECT_DOUBLE_EQ(Buckets{}.Quantile(0.5), 0);
}

}  // namespace
}  // namespace walden
