#include "common/strings.h"

#include <gtest/gtest.h>

namespace walden {
namespace {

TEST(Strings, TrimSplitJoin) {
  EXPECT_EQ(Trim("  a b \n"), "a b");
  EXPECT_EQ(Trim("   "), "");
  EXPECT_EQ(Split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  const std::vector<std::string> parts{"x", "y"};
  EXPECT_EQ(Join(parts, ", "), "x, y");
}

TEST(Strings, EditDistanceAndClosestMatch) {
  EXPECT_EQ(EditDistance("slot", "slott"), 1u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  const std::vector<std::string> keys{"source.slot", "source.url", "archive.url"};
  EXPECT_EQ(ClosestMatch("source.slott", keys), "source.slot");
  EXPECT_EQ(ClosestMatch("completely.different", keys), std::nullopt);
}

TEST(Strings, OneLineJoinsLibpqStyleMessages) {
  EXPECT_EQ(OneLine("connection failed: Connection refused\n\tIs the server running?\n"),
            "connection failed: Connection refused; Is the server running?");
}

TEST(Strings, ParseInt64TakesWholeIntegersOnly) {
  EXPECT_EQ(ParseInt64("42"), 42);
  EXPECT_EQ(ParseInt64("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(ParseInt64(""), std::nullopt);
  EXPECT_EQ(ParseInt64("12x"), std::nullopt);
  EXPECT_EQ(ParseInt64(" 1"), std::nullopt);
  EXPECT_EQ(ParseInt64("9223372036854775808"), std::nullopt);
}

}  // namespace
}  // namespace walden
