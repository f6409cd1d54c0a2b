#include "common/redact.h"

#include <gtest/gtest.h>

namespace walden {
namespace {

TEST(Redact, MasksUrlPasswords) {
  EXPECT_EQ(RedactConninfo("postgresql://walden:s3cret@db:5432/shop"),
            "postgresql://walden:***@db:5432/shop");
  EXPECT_EQ(RedactConninfo("postgres://u:p%40ss@h/db?sslmode=require&password=x2&a=b"),
            "postgres://u:***@h/db?sslmode=require&password=***&a=b");
  EXPECT_EQ(RedactConninfo("postgresql://walden@db/shop"), "postgresql://walden@db/shop");
  EXPECT_EQ(RedactConninfo("postgresql://db"), "postgresql://db");
}

TEST(Redact, MasksKeywordPasswords) {
  EXPECT_EQ(RedactConninfo("host=db password=s3cret user=w"), "host=db password=*** user=w");
  EXPECT_EQ(RedactConninfo("host=db password = 'a b\\'c' user=w"), "host=db password = *** user=w");
  EXPECT_EQ(RedactConninfo("host=db passwordless=1"), "host=db passwordless=1");
  EXPECT_FALSE(ConninfoHasPassword("host=db user=w"));
  EXPECT_TRUE(ConninfoHasPassword("host=db password=x"));
}

TEST(Redact, ScrubsCopiesInsideMessages) {
  const std::string url = "postgresql://u:pw@[::1/db";
  EXPECT_EQ(ScrubConninfo("invalid URI: \"" + url + "\" here", url),
            "invalid URI: \"postgresql://u:***@[::1/db\" here");
}

// Strings libpq cannot parse (or parses otherwise) still lose their secrets: found by
// feeding walden such URLs (issue: passwords leaked in errors).
TEST(Redact, MasksWhateverLibpqThinksOfTheString) {
  EXPECT_EQ(RedactConninfo("POSTGRESQL://u:s3cret@db/shop"), "POSTGRESQL://u:***@db/shop");
  EXPECT_EQ(RedactConninfo("postgresq://u:s3cret@db/shop"), "postgresq://u:***@db/shop");
  EXPECT_EQ(RedactConninfo("postgresql:/u:s3cret@db/shop"), "postgresql:/u:***@db/shop");
  EXPECT_EQ(RedactConninfo("jdbc:postgresql://u:s3cret@db/shop"),
            "jdbc:postgresql://u:***@db/shop");
  EXPECT_EQ(RedactConninfo("postgresql://db/shop?%70assword=s3cret"),
            "postgresql://db/shop?%70assword=***");
  EXPECT_EQ(RedactConninfo("postgresql://db/shop?PASSWORD=s3cret#x"),
            "postgresql://db/shop?PASSWORD=***#x");
  EXPECT_EQ(RedactConninfo("host=db\npassword=s3cret\tuser=w"), "host=db\npassword=***\tuser=w");
  EXPECT_EQ(RedactConninfo("host=db\tsslpassword=s3cret"), "host=db\tsslpassword=***");
  EXPECT_EQ(RedactConninfo("user=a password=s3cret postgresql://b:other@h"),
            "user=a password=*** postgresql://b:***@h");
}

TEST(Redact, APasswordOfMaskCharactersDoesNotFeedItself) {
  const std::string conninfo = "password=** host=h";
  EXPECT_EQ(ScrubConninfo(std::string(8, '*') + " x", conninfo), "************ x");
}

TEST(Redact, ScrubsPiecesAndDecodedCopiesOfThePassword) {
  const std::string url = "postgresql://u:p%40ss@db/x";
  EXPECT_EQ(ScrubConninfo("password authentication failed near \"p@ss\" and p%40ss", url),
            "password authentication failed near \"***\" and ***");
}

}  // namespace
}  // namespace walden
