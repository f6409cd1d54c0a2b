#include "common/units.h"

#include <gtest/gtest.h>

namespace walden {
namespace {

using std::chrono::microseconds;

TEST(Units, ParsesDurations) {
  EXPECT_EQ(ParseDuration("100ms").value(), microseconds(100000));
  EXPECT_EQ(ParseDuration("10s").value(), microseconds(10000000));
  EXPECT_EQ(ParseDuration(" 5m ").value(), microseconds(300000000));
  EXPECT_EQ(ParseDuration("1h").value(), microseconds(3600000000));
  EXPECT_EQ(ParseDuration("250us").value(), microseconds(250));
}

TEST(Units, RejectsBadDurations) {
  for (const char* bad : {"10", "ten s", "10 sec", "-1s", "", "1.5s", "s"}) {
    auto parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error(),
              "a whole number followed by a unit (us, ms, s, m, h or d), e.g. \"100ms\" or "
              "\"10s\"");
  }
  EXPECT_EQ(ParseDuration("9999999999999999d").error(), "a duration of at most 100 years");
}

TEST(Units, ParsesSizes) {
  EXPECT_EQ(ParseSize("64MB").value(), 64 << 20);
  EXPECT_EQ(ParseSize("1kB").value(), 1024);
  EXPECT_EQ(ParseSize("512B").value(), 512);
  EXPECT_EQ(ParseSize("2GiB").value(), int64_t{2} << 30);
  EXPECT_EQ(ParseSize("64 mb").error(),
            "a whole number followed by a unit (B, kB, MB, GB or TB), e.g. \"64MB\"");
  EXPECT_FALSE(ParseSize("64"));
}

TEST(Units, FormatsRoundTrip) {
  EXPECT_EQ(FormatDuration(microseconds(100000)), "100ms");
  EXPECT_EQ(FormatDuration(microseconds(10000000)), "10s");
  EXPECT_EQ(FormatDuration(microseconds(3600000000)), "1h");
  EXPECT_EQ(FormatSize(64 << 20), "64MB");
  EXPECT_EQ(FormatSize(1000), "1000B");
}

TEST(Units, FormatsUtcTimes) {
  EXPECT_EQ(FormatUtcTime(1795219199000001), "2026-11-20T23:59:59.000001Z");
  EXPECT_EQ(FormatUtcTime(1795219199999999, false), "2026-11-20T23:59:59Z");
  EXPECT_EQ(FormatUtcTime(-1), "1969-12-31T23:59:59.999999Z");
}

}  // namespace
}  // namespace walden
