#include "snapshot/copy_text.h"

#include <gtest/gtest.h>

namespace walden::snapshot {
namespace {

using pg::pgoutput::ValueKind;

TEST(CopyTextTest, FieldsNullsAndEscapes) {
  pg::pgoutput::Tuple tuple;
  ASSERT_TRUE(ParseCopyTextLine("1\t\\N\ta\\tb\\\\c\\nd\t\t\\x41\\101\\N", 5, tuple));
  ASSERT_EQ(tuple.size(), 5u);
  EXPECT_EQ(tuple.Data(0), "1");
  EXPECT_EQ(tuple.values[1].kind, ValueKind::kNull);
  EXPECT_EQ(tuple.Data(2), "a\tb\\c\nd");
  EXPECT_EQ(tuple.values[3].kind, ValueKind::kText);
  EXPECT_EQ(tuple.Data(3), "");
  EXPECT_EQ(tuple.Data(4), "AAN");  // "\N" inside a field is a literal N after the escape
}

TEST(CopyTextTest, OneEmptyColumn) {
  pg::pgoutput::Tuple tuple;
  ASSERT_TRUE(ParseCopyTextLine("", 1, tuple));
  EXPECT_EQ(tuple.values[0].kind, ValueKind::kText);
  EXPECT_EQ(tuple.Data(0), "");
}

TEST(CopyTextTest, MalformedRowsAreErrors) {
  pg::pgoutput::Tuple tuple;
  auto few = ParseCopyTextLine("1\t2", 3, tuple);
  ASSERT_FALSE(few);
  EXPECT_EQ(few.error().message, "COPY row has 2 fields, expected 3");
  auto many = ParseCopyTextLine("1\t2\t3", 2, tuple);
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().message, "COPY row has more than 2 fields");
  auto dangling = ParseCopyTextLine("ab\\", 1, tuple);
  ASSERT_FALSE(dangling);
  EXPECT_EQ(dangling.error().message, "COPY row ends in a backslash");
}

}  // namespace
}  // namespace walden::snapshot
