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

}  // namespace
}  // namespace walden
