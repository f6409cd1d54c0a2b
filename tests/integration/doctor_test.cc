// `walden doctor` as users run it: the real binary against real PostgreSQL (15, or 17 with
// WALDEN_PG_BIN), over TCP with real password authentication.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPassword = "s3cret-Pa55";

class DoctorTest : public PgTest {
 protected:
  CommandResult Doctor(const std::string& url, std::vector<std::string> extra = {},
                       const std::string& password = kPassword) {
    std::vector<std::string> args = {"doctor", "--source", url};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult result = RunWalden(args, {{"PGPASSWORD", password}});
    EXPECT_THAT(result.output, Not(HasSubstr(password)));
    return result;
  }

  // A ready source: a replication role that owns its tables.
  void HealthySource() {
    CreateRole("walden", kPassword, "REPLICATION");
    Exec("CREATE TABLE public.orders (id bigint PRIMARY KEY, note text)");
    Exec("ALTER TABLE public.orders OWNER TO walden");
  }

  nlohmann::json DoctorJson(const std::string& url, std::vector<std::string> extra = {}) {
    extra.push_back("--json");
    const CommandResult result = Doctor(url, extra);
    return nlohmann::json::parse(result.output);
  }

  static nlohmann::json FindingsOf(const nlohmann::json& report, const std::string& check) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& finding : report["findings"]) {
      if (finding["check"] == check) out.push_back(finding);
    }
    return out;
  }
};

TEST_F(DoctorTest, HealthyServerIsReady) {
  HealthySource();
  const CommandResult result = Doctor(TcpUrl("walden"), {"--source-tables", "public.*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("ok        wal_level                wal_level is logical"));
  EXPECT_THAT(result.output, HasSubstr("role walden can open a replication connection"));
  EXPECT_THAT(result.output,
              HasSubstr("1 of 1 captured tables have a primary key or replica identity index"));
  EXPECT_THAT(result.output,
              HasSubstr("publication walden does not exist; walden creates it at start"));
  EXPECT_THAT(result.output, HasSubstr("fix: CREATE PUBLICATION \"walden\" FOR TABLE "
                                       "public.orders;"));
  EXPECT_THAT(result.output, HasSubstr("ready: 0 blocking problems, 1 warning."));
}

TEST_F(DoctorTest, RoleWithoutReplicationIsBlockingWithTheGrant) {
  CreateRole("reader", kPassword);
  const CommandResult result = Doctor(TcpUrl("reader"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("BLOCKING  replication_privilege    role reader has "
                                       "neither REPLICATION nor superuser\n"));
  EXPECT_THAT(result.output, HasSubstr("fix: ALTER ROLE \"reader\" WITH REPLICATION;\n"));
  EXPECT_THAT(result.output, HasSubstr("\nnot ready: "));
}

TEST_F(DoctorTest, TableWithoutKeyWarnsAndTheWarningIsTrue) {
  HealthySource();
  Exec("CREATE TABLE public.events (at timestamptz, body text)");
  Exec("ALTER TABLE public.events OWNER TO walden");
  const CommandResult result = Doctor(TcpUrl("walden"), {"--source-tables", "public.*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output,
              HasSubstr("warning   replica_identity         public.events has no primary key or "
                        "replica identity: once it is in a publication, PostgreSQL rejects "
                        "UPDATE and DELETE on it (walden would mirror it append-only)\n"));
  EXPECT_THAT(result.output,
              HasSubstr("fix: ALTER TABLE \"public\".\"events\" ADD PRIMARY KEY (...);  -- or: "
                        "ALTER TABLE \"public\".\"events\" REPLICA IDENTITY FULL;"));
  // What the warning predicts: in a publication, PostgreSQL refuses the application's UPDATE.
  Exec("INSERT INTO public.events VALUES (now(), 'x')");
  Exec("CREATE PUBLICATION probe FOR TABLE public.events");
  auto conn = pg::Connection::Open(AdminConninfo());
  auto update = conn->Exec("UPDATE public.events SET body = 'y'");
  ASSERT_FALSE(update);
  EXPECT_THAT(update.error().message,
              HasSubstr("cannot update table \"events\" because it does not have a replica "
                        "identity and publishes updates"));
}

TEST_F(DoctorTest, HostileIdentifiersAreQuotedInFixes) {
  HealthySource();
  Exec("CREATE SCHEMA \"Weird Schema\"");
  Exec("CREATE TABLE \"Weird Schema\".\"Select\" (\"a \"\"q\"\" col\" int)");
  const auto report =
      DoctorJson(TcpUrl("walden"), {"--source-tables", R"("Weird Schema"."Select")"});
  const auto findings = FindingsOf(report, "replica_identity");
  ASSERT_EQ(findings.size(), 1u) << report.dump(2);
  EXPECT_EQ(findings[0]["message"],
            "\"Weird Schema\".\"Select\" has no primary key or replica identity: once it is in a "
            "publication, PostgreSQL rejects UPDATE and DELETE on it (walden would mirror it "
            "append-only)");
  const auto select = FindingsOf(report, "select_privilege");
  ASSERT_EQ(select.size(), 1u) << report.dump(2);
  EXPECT_EQ(select[0]["fix"], "GRANT USAGE ON SCHEMA \"Weird Schema\" TO \"walden\";");
  EXPECT_EQ(report["ready"], false);
}

TEST_F(DoctorTest, MissingTableSuggestsQuoting) {
  HealthySource();
  Exec("CREATE TABLE public.\"Orders2\" (id int PRIMARY KEY)");
  const auto report = DoctorJson(TcpUrl("walden"), {"--source-tables", "public.Orders2"});
  const auto findings = FindingsOf(report, "tables");
  ASSERT_EQ(findings.size(), 1u) << report.dump(2);
  EXPECT_EQ(findings[0]["severity"], "blocking");
  EXPECT_EQ(findings[0]["message"],
            "table public.orders2 does not exist (or this role cannot see it)");
  EXPECT_EQ(findings[0]["fix"], "did you mean public.\"Orders2\"? (quote names with capitals)");
}

TEST_F(DoctorTest, ReportsExistingPublicationAndSlot) {
  HealthySource();
  Exec("CREATE PUBLICATION walden FOR TABLE public.orders WITH (publish = 'insert, update')");
  Exec("SELECT pg_create_logical_replication_slot('walden', 'pgoutput')");
  const auto report = DoctorJson(TcpUrl("walden"));
  const auto publication = FindingsOf(report, "publication");
  ASSERT_EQ(publication.size(), 2u) << report.dump(2);
  EXPECT_EQ(publication[0]["message"],
            "publication walden does not publish delete, truncate; those changes would be "
            "missed");
  EXPECT_EQ(publication[0]["fix"],
            "ALTER PUBLICATION \"walden\" SET (publish = 'insert, update, delete, truncate');");
  EXPECT_EQ(publication[1]["message"], "publication walden covers 1 tables: public.orders");
  const auto slot = FindingsOf(report, "slot");
  ASSERT_EQ(slot.size(), 1u);
  EXPECT_EQ(slot[0]["severity"], "ok");
  EXPECT_THAT(slot[0]["message"].get<std::string>(),
              ::testing::StartsWith("slot walden exists (wal_status reserved, holds "));
  Exec("SELECT pg_drop_replication_slot('walden')");
}

TEST_F(DoctorTest, SlotWithAnotherPluginIsBlocking) {
  HealthySource();
  Exec("SELECT pg_create_logical_replication_slot('walden', 'test_decoding')");
  const auto report = DoctorJson(TcpUrl("walden"));
  const auto slot = FindingsOf(report, "slot");
  ASSERT_EQ(slot.size(), 1u);
  EXPECT_EQ(slot[0]["message"],
            "slot walden exists but is logical with plugin test_decoding; walden needs a "
            "logical pgoutput slot");
  EXPECT_EQ(slot[0]["fix"],
            "SELECT pg_drop_replication_slot('walden');  -- or choose another name with "
            "source.slot");
  EXPECT_EQ(report["ready"], false);
  Exec("SELECT pg_drop_replication_slot('walden')");
}

TEST_F(DoctorTest, WalLevelReplicaIsBlockingWithTheFix) {
  auto replica = pg::LocalServer::Start({.settings = {{"wal_level", "replica"}}});
  ASSERT_TRUE(replica) << replica.error().message;
  const CommandResult result = RunWalden({"doctor", "--source", (*replica)->AdminConninfo()});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("BLOCKING  wal_level                wal_level is replica; "
                                       "logical decoding needs logical\n"));
  EXPECT_THAT(result.output, HasSubstr("fix: ALTER SYSTEM SET wal_level = logical;  -- then "
                                       "restart PostgreSQL"));
}

TEST_F(DoctorTest, UnreachableServerIsOneClearLine) {
  const CommandResult result = Doctor("postgresql://walden@127.0.0.1:1/shop");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_THAT(result.output,
              ::testing::StartsWith("walden: cannot connect to postgresql://walden@127.0.0.1:1/"
                                    "shop: connection to server at \"127.0.0.1\", port 1 failed: "
                                    "Connection refused"));
}

TEST_F(DoctorTest, WrongPasswordIsOneClearLineWithoutTheSecret) {
  HealthySource();
  const CommandResult env = Doctor(TcpUrl("walden"), {}, "not-the-password");
  EXPECT_EQ(env.exit_code, 1);
  EXPECT_EQ(std::count(env.output.begin(), env.output.end(), '\n'), 1) << env.output;
  EXPECT_THAT(env.output, HasSubstr("password authentication failed for user \"walden\" (check "
                                    "the password in PGPASSWORD or ~/.pgpass)\n"));
  const std::string with_secret =
      "postgresql://walden:Hunter2Secret@127.0.0.1:" + std::to_string(server().port()) + "/" +
      database();
  const CommandResult url = RunWalden({"doctor", "--source", with_secret});
  EXPECT_EQ(url.exit_code, 1);
  EXPECT_THAT(url.output, Not(HasSubstr("Hunter2Secret")));
  EXPECT_THAT(url.output, HasSubstr("walden: cannot connect to postgresql://walden:***@"));
}

TEST_F(DoctorTest, BadUrlIsAUsageError) {
  const CommandResult result = Doctor("postgresql://walden@[::1/shop");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: invalid source URL postgresql://walden@[::1/shop: end of string reached "
            "when looking for matching \"]\" in IPv6 host address in URI: "
            "\"postgresql://walden@[::1/shop\"; expected postgresql://user@host:port/database "
            "or \"host=... dbname=...\"\n");
  // libpq quotes the whole URL in its message; the password must not come with it.
  const CommandResult secret = Doctor("postgresql://walden:Pw0rd9@[::1/shop");
  EXPECT_EQ(secret.exit_code, 2);
  EXPECT_THAT(secret.output, Not(HasSubstr("Pw0rd9")));
  EXPECT_THAT(secret.output, HasSubstr("in URI: \"postgresql://walden:***@[::1/shop\""));
}

TEST_F(DoctorTest, MissingSourceIsAUsageError) {
  const CommandResult result = RunWalden({"doctor"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: doctor: no source database; pass --source URL, set WALDEN_SOURCE_URL or "
            "source.url in walden.toml\n");
}

}  // namespace
}  // namespace walden::testing
