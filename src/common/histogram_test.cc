#include "common/histogram.h"

#include <gtest/gtest.h>

namespace walden {
namespace {

TEST(Histogram, CountsIntoBucketsAndEstimatesQuantilesWithinThem) {
  Histogram histogram;
  for (int i = 0; i < 90; ++i) histogram.Observe(0.004);  // (2.5 ms, 5 ms]
  for (int i = 0; i < 10; ++i) histogram.Observe(0.2);    // (100 ms, 250 ms]
  histogram.Observe(-1);                                  // clock skew counts as 0
  const Histogram::Snapshot s = histogram.Take();
  EXPECT_EQ(s.count, 101u);
  EXPECT_EQ(s.counts[0], 1u);
  EXPECT_EQ(s.counts[2], 90u);
  EXPECT_EQ(s.counts[7], 10u);
  EXPECT_NEAR(s.sum, 90 * 0.004 + 10 * 0.2, 1e-9);
  EXPECT_DOUBLE_EQ(s.max, 0.2);
  EXPECT_GT(s.Quantile(0.5), 0.0025);
  EXPECT_LE(s.Quantile(0.5), 0.005);
  EXPECT_GT(s.Quantile(0.99), 0.1);
  EXPECT_LE(s.Quantile(0.99), 0.2);
  EXPECT_EQ(Histogram().Take().Quantile(0.5), 0);
}

TEST(Histogram, BeyondTheLastBoundLandsInInfinity) {
  Histogram histogram;
  histogram.Observe(120);
  const Histogram::Snapshot s = histogram.Take();
  EXPECT_EQ(s.counts.back(), 1u);
  EXPECT_GT(s.Quantile(0.99), 60);
  EXPECT_LE(s.Quantile(0.99), 120);
}

}  // namespace
}  // namespace walden
