// What someone other than the operator can make walden do (docs/security.md): every case
// below worked on the landed main before this file existed, through the HTTP API of a
// running walden or through `walden query` on a stopped one.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "server/http_server.h"
#include "tests/support/duck_reader.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr std::string_view kHint =
    "(walden query runs one read-only statement that returns rows: SELECT, FROM, WITH, VALUES, "
    "DESCRIBE, SHOW, SUMMARIZE)";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class SecurityTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::vector<std::string> RunArgs() {
    return {"run",           "--server-listen",     "127.0.0.1:0",
            "--source",      AdminConninfo(),       "--data-dir",
            dir() + "/data", "--mirror-export-dir", dir() + "/exports",
            "--source-slot", "security_slot",       "--archive-flush-interval",
            "200ms"};
  }
  std::string Address() {
    std::ifstream file(dir() + "/data/server.json");
    return nlohmann::json::parse(file)["address"];
  }
  std::pair<int, std::string> Query(const std::string& sql) {
    auto response = server::Post(Address(), "/api/query", {{"format", "csv"}}, sql);
    if (!response) return {0, response.error().message};
    return {response->status, response->body};
  }
};

TEST_F(SecurityTest, TheHttpApiRunsOnlyReadsAndWritesOnlyUnderTheExportDirectory) {
  std::filesystem::remove_all(dir());
  std::filesystem::create_directories(dir() + "/victim");
  std::ofstream(dir() + "/victim/keep") << "precious";
  Exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  Exec("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 3) g");
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  ASSERT_TRUE(WaitForCaughtUp("security_slot"));
  // The bracket escape that overwrote files as root.
  const auto escape = Query("SELECT 1 AS a); COPY (SELECT 'x') TO '" + dir() +
                            "/victim/keep' (HEADER false); SELECT * FROM (SELECT 1 AS b");
  EXPECT_EQ(escape.first, 400);
  EXPECT_THAT(escape.second, HasSubstr("Parser Error: syntax error at or near \")\""));
  EXPECT_EQ(Query("UPDATE walden.state SET commit_lsn = 0"),
            std::pair(400, "this is a UPDATE statement; " + std::string(kHint)));
  EXPECT_EQ(Query("SET memory_limit = '1MB'"),
            std::pair(400, "this is a SET statement; " + std::string(kHint)));
  EXPECT_EQ(Query("ATTACH '" + dir() + "/exports/x.duckdb' AS x"),
            std::pair(400, "this is a ATTACH statement; " + std::string(kHint)));
  for (const std::string read :
       {"SELECT * FROM read_text('/etc/passwd')", "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/root/*')"}) {
    const auto refused = Query(read);
    EXPECT_EQ(refused.first, 400) << read;
    EXPECT_THAT(refused.second, HasSubstr("file system operations are disabled by configuration"))
        << read;
  }
  EXPECT_EQ(Query("SELECT count(*) AS n FROM public.t"), std::pair(200, std::string("n\n3\n")));
  // Exports: only under mirror.export_dir, nothing walden did not create is removed.
  auto exported = server::Post(Address(), "/api/mirror/export",
                               {{"path", dir() + "/victim"}, {"format", "parquet"}}, "");
  EXPECT_EQ(exported->status, 400);
  EXPECT_EQ(exported->body,
            fmt::format("a running walden exports only under mirror.export_dir ({0}/exports); "
                        "{0}/victim is outside it: give a path there, set mirror.export_dir, or "
                        "stop walden and export from the mirror file",
                        dir()));
  std::filesystem::create_directories(dir() + "/exports/copy.duckdb.partial");
  std::ofstream(dir() + "/exports/copy.duckdb.partial/theirs") << "x";
  const CommandResult partial = RunWalden(
      {"mirror", "export", dir() + "/exports/copy.duckdb", "--data-dir", dir() + "/data"});
  EXPECT_EQ(partial.exit_code, 2);
  EXPECT_THAT(partial.output, HasSubstr("copy.duckdb.partial exists (an interrupted export?)"));
  EXPECT_TRUE(std::filesystem::exists(dir() + "/exports/copy.duckdb.partial/theirs"));
  const CommandResult done =
      RunWalden({"mirror", "export", dir() + "/exports/ok.duckdb", "--data-dir", dir() + "/data"});
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_EQ(ReadFile(dir() + "/victim/keep"), "precious");
  // The mirror still follows the source: its watermark was not moved.
  Exec("INSERT INTO t VALUES (4, 'v4')");
  ASSERT_TRUE(WaitForCaughtUp("security_slot"));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  EXPECT_EQ(DuckRows(dir() + "/data/mirror.duckdb", "SELECT count(*) FROM public.t"),
            (std::vector<Row>{{"4"}}));
  DropSlot("security_slot");
}

// A query whose HTTP client left is stopped, not run on to its timeout; the slots it held
// serve the next queries.
TEST_F(SecurityTest, AQueryIsStoppedWhenItsClientGoesAway) {
  std::filesystem::remove_all(dir());
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  const std::string address = Address();
  for (int i = 0; i < 4; ++i) {  // as many as may run at once
    httplib::Client impatient(address.substr(0, address.rfind(':')),
                              std::stoi(address.substr(address.rfind(':') + 1)));
    impatient.set_read_timeout(0, 300000);
    EXPECT_FALSE(impatient.Post("/api/query", {{"X-Walden-Client", "test"}},
                                "SELECT count(*) FROM range(1000000000000) a", "text/plain"));
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(run.WaitForLog("query: the query was stopped: its client went away", 10s, i + 1))
        << run.Stderr();
  }
  EXPECT_EQ(Query("SELECT 1 AS one"), std::pair(200, std::string("one\n1\n")));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("security_slot");
}

TEST_F(SecurityTest, AForeignWebPageCannotPostOrRebindAndATokenIsEnforced) {
  std::filesystem::remove_all(dir());
  std::vector<std::string> args = RunArgs();
  WaldenProcess run(args, {{"WALDEN_SERVER_TOKEN", "token-of-at-least-16"}});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  const std::string address = Address();
  httplib::Client browser(address.substr(0, address.rfind(':')),
                          std::stoi(address.substr(address.rfind(':') + 1)));
  // A form on another site posting text/plain with the user's cookies: no custom header.
  auto form = browser.Post("/api/snapshot",
                           {{"Origin", "https://evil.example"}, {"Cookie", "walden_token=guess"}},
                           "*", "text/plain");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 403);
  // DNS rebinding: the attacker's name in Host.
  auto rebound = browser.Get("/api/status", {{"Host", "evil.example"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 421);
  EXPECT_EQ(browser.Get("/api/status")->status, 401);
  EXPECT_EQ(browser.Get("/healthz")->status, 200);
  // The console's sign-in: the token for a cookie scripts cannot read and other sites
  // cannot send; a wrong token gets nothing.
  auto wrong = browser.Post("/api/login", {{"X-Walden-Client", "console"}}, "not-the-token-at-all",
                            "text/plain");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));
  auto foreign = browser.Post("/api/login", {{"Origin", "https://evil.example"}},
                              "token-of-at-least-16", "text/plain");
  EXPECT_EQ(foreign->status, 403);
  auto signed_in = browser.Post("/api/login", {{"X-Walden-Client", "console"}},
                                "token-of-at-least-16", "text/plain");
  ASSERT_TRUE(signed_in);
  EXPECT_EQ(signed_in->status, 200);
  EXPECT_EQ(signed_in->get_header_value("Set-Cookie"),
            "walden_token=token-of-at-least-16; HttpOnly; SameSite=Strict; Path=/");
  EXPECT_EQ(browser.Get("/api/status", {{"Cookie", "walden_token=token-of-at-least-16"}})->status,
            200);
  // The console's page itself is served (it shows the sign-in); its data is not.
  EXPECT_EQ(browser.Get("/")->status, 200);
  EXPECT_EQ(browser.Get("/api/feed?table=public.t")->status, 401);
  // walden's own CLI reads the token from its configuration.
  const CommandResult status = RunWalden({"status", "--data-dir", dir() + "/data"},
                                         {{"WALDEN_SERVER_TOKEN", "token-of-at-least-16"}});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  const CommandResult denied = RunWalden({"status", "--data-dir", dir() + "/data"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.output, HasSubstr("needs server.token"));
  EXPECT_THAT(run.Stderr(), ::testing::Not(HasSubstr("token-of-at-least-16")));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("security_slot");
}

TEST_F(SecurityTest, ListeningBeyondLoopbackNeedsAToken) {
  const CommandResult open = RunWalden({"config", "check", "--server-listen", "0.0.0.0:8080"});
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_EQ(open.output,
            "walden: config: server.listen = \"0.0.0.0:8080\" (flag --server-listen): "
            "reachable from other machines: set server.token (WALDEN_SERVER_TOKEN) so that only "
            "clients holding it are served, or listen on 127.0.0.1\n");
  const CommandResult shown = RunWalden({"config", "check", "--server-listen", "0.0.0.0:8080",
                                         "--source", "postgresql://walden@db/shop"},
                                        {{"WALDEN_SERVER_TOKEN", "token-of-at-least-16"}});
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr("token = '********'"));
  EXPECT_THAT(shown.output, ::testing::Not(HasSubstr("token-of-at-least-16")));
}

TEST_F(SecurityTest, AStoppedWaldensQueryCannotWriteOrReadFiles) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  Exec("INSERT INTO t VALUES (1), (2)");
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    ASSERT_TRUE(WaitForCaughtUp("security_slot"));
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  }
  auto query = [&](const std::string& sql) {
    return RunWalden({"query", sql, "--format", "csv", "--data-dir", dir() + "/data"});
  };
  const CommandResult deleted = query("DELETE FROM public.t");
  EXPECT_EQ(deleted.exit_code, 2);
  EXPECT_EQ(deleted.output, "walden: this is a DELETE statement; " + std::string(kHint) + "\n");
  const CommandResult passwd = query("SELECT * FROM read_text('/etc/passwd')");
  EXPECT_EQ(passwd.exit_code, 2);
  EXPECT_THAT(passwd.output, HasSubstr("file system operations are disabled by configuration"));
  const CommandResult rows = query("SELECT count(*) AS n FROM public.t");
  EXPECT_EQ(rows.exit_code, 0) << rows.output;
  EXPECT_EQ(rows.output, "n\n2\n");
  DropSlot("security_slot");
}

}  // namespace
}  // namespace walden::testing
