// The test harness itself: real PostgreSQL and s3rver come up, per-test databases are
// isolated, and servers do not outlive their owner.
#include <gtest/gtest.h>

#include "tests/support/duck_reader.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/s3_server.h"

namespace walden::testing {
namespace {

class HarnessTest : public PgTest {};

TEST_F(HarnessTest, FreshDatabasePerTestWithLogicalReplication) {
  EXPECT_EQ(Rows("SELECT current_database()"), (std::vector<Row>{{database()}}));
  EXPECT_EQ(Rows("SHOW wal_level"), (std::vector<Row>{{"logical"}}));
  EXPECT_EQ(Rows("SELECT count(*) FROM pg_class WHERE relname = 'leftover'"),
            (std::vector<Row>{{"0"}}));
  Exec("CREATE TABLE leftover (id int)");
}

TEST_F(HarnessTest, SecondTestDoesNotSeeTheFirstTestsTables) {
  EXPECT_EQ(Rows("SELECT count(*) FROM pg_class WHERE relname = 'leftover'"),
            (std::vector<Row>{{"0"}}));
}

TEST_F(HarnessTest, ServerVersionFollowsWaldenPgBin) {
  const char* bin = std::getenv("WALDEN_PG_BIN");
  int expected = 15;  // Debian's server is the default
  if (bin && *bin) {
    auto version = RunCommand({.argv = {std::string(bin) + "/postgres", "--version"}},
                              std::chrono::seconds(30));
    ASSERT_TRUE(version);
    // "postgres (PostgreSQL) 17.10"
    expected = std::atoi(version->output.substr(version->output.rfind(' ') + 1).c_str());
  }
  EXPECT_EQ(server().major_version(), expected);
  EXPECT_EQ(Rows("SELECT current_setting('server_version_num')::int / 10000"),
            (std::vector<Row>{{std::to_string(expected)}}));
}

TEST_F(HarnessTest, TcpConnectionsNeedThePassword) {
  CreateRole("harness_user", "right password");
  auto denied = pg::Connection::Open(TcpUrl("harness_user") + "?password=wrong");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, ErrorKind::kAuth);
  auto allowed = pg::Connection::Open(TcpUrl("harness_user") + "?password=right%20password");
  ASSERT_TRUE(allowed) << allowed.error().message;
}

TEST_F(HarnessTest, RestartKeepsData) {
  // Restart is cluster-wide; use a dedicated server so other tests' connections survive.
  auto own = pg::LocalServer::Start({});
  ASSERT_TRUE(own) << own.error().message;
  {
    auto conn = pg::Connection::Open((*own)->AdminConninfo());
    ASSERT_TRUE(conn->Exec("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)"));
  }
  ASSERT_TRUE((*own)->Restart());
  auto conn = pg::Connection::Open((*own)->AdminConninfo());
  ASSERT_TRUE(conn) << conn.error().message;
  EXPECT_EQ(testing::Rows(*conn, "SELECT id FROM kept"), (std::vector<Row>{{"7"}}));
}

TEST(S3Harness, ServesTheConfiguredBucket) {
  auto s3 = S3Server::Start("harness-bucket");
  ASSERT_TRUE(s3) << s3.error().message;
  auto listing = HttpGet((*s3)->endpoint() + "/harness-bucket");
  ASSERT_TRUE(listing) << listing.error().message;
  EXPECT_EQ(listing->first, 200);
  EXPECT_NE(listing->second.find("<Name>harness-bucket</Name>"), std::string::npos);
  auto missing = HttpGet((*s3)->endpoint() + "/no-such-bucket");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->first, 404);
  (*s3)->Stop();
  EXPECT_FALSE(HttpGet((*s3)->endpoint() + "/harness-bucket"));
  ASSERT_TRUE((*s3)->Restart());
  EXPECT_EQ(HttpGet((*s3)->endpoint() + "/harness-bucket")->first, 200);
}

TEST(DuckHarness, ReadsDuckDbFiles) {
  EXPECT_EQ(DuckRows(":memory:", "SELECT 1 + 1, NULL"), (std::vector<Row>{{"2", std::nullopt}}));
}

}  // namespace
}  // namespace walden::testing
