// The web console in a real browser (Debian's headless Chromium, driven by puppeteer-core
// from npm through tests/browser/console_check.mjs): a query and its rows, a history query's
// cost preview before it runs, a row committed in PostgreSQL on the table's live feed
// within a second, the status charts, and the fleet demo's map with its 500 aircraft
// moving. Screenshots of each page land in build/test/console-screenshots/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "common/subprocess.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

std::string Screenshots() {
  const std::string dir = std::string(WALDEN_BINARY_DIR) + "/console-screenshots";
  std::filesystem::create_directories(dir);
  return dir;
}

// `node console_check.mjs <mode> <base> <dir>` in the background.
Subprocess StartCheck(const std::string& mode, const std::string& base, const std::string& log) {
  auto check = Subprocess::Spawn(
      {.argv = {"node", std::string(WALDEN_SOURCE_DIR) + "/tests/browser/console_check.mjs", mode,
                base, Screenshots()},
       .stdout_path = log,
       .cwd = WALDEN_SOURCE_DIR});
  EXPECT_TRUE(check) << check.error().message;
  return std::move(*check);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ConsoleBrowserTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
};

TEST_F(ConsoleBrowserTest, QueriesPreviewsFeedsAndChartsWorkInChromium) {
  std::filesystem::remove_all(dir());
  std::filesystem::create_directories(dir());
  Exec("CREATE TABLE items (id int PRIMARY KEY, note text)");
  Exec("INSERT INTO items VALUES (1, 'first'), (2, 'second'), (3, '\"quoted\"')");
  WaldenProcess run({"run", "--server-listen", "127.0.0.1:0", "--source", AdminConninfo(),
                     "--data-dir", dir() + "/data", "--source-slot", "console_slot",
                     "--archive-flush-interval", "200ms"});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  ASSERT_TRUE(run.WaitForLog("archive: commit", 30s)) << run.Stderr();
  std::ifstream server(dir() + "/data/server.json");
  const std::string address = nlohmann::json::parse(server)["address"];
  std::filesystem::remove(Screenshots() + "/feed-ready");
  const std::string log = dir() + "/check.log";
  Subprocess check = StartCheck("console", "http://" + address, log);
  // The browser says when the table's feed is live; the row is committed then.
  for (int i = 0; i < 3000 && !std::filesystem::exists(Screenshots() + "/feed-ready"); ++i) {
    if (!check.Running()) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(std::filesystem::exists(Screenshots() + "/feed-ready")) << ReadFile(log);
  Exec("INSERT INTO items VALUES (4242, 'live')");
  auto code = check.Wait(120s);
  ASSERT_TRUE(code) << ReadFile(log);
  EXPECT_EQ(*code, 0) << ReadFile(log) << run.Stderr();
  EXPECT_THAT(ReadFile(log), ::testing::HasSubstr(R"({"check":"done"})"));
  std::cout << ReadFile(log);
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("console_slot");
}

TEST_F(ConsoleBrowserTest, TheFleetDemoDrawsFiveHundredMovingAircraft) {
  std::filesystem::remove_all(dir());
  WaldenProcess demo({"demo", "--fleet", "--seconds", "120", "--data-dir", dir()});
  std::smatch match;
  const std::regex url("open (http://[0-9.:]+)/#map");
  for (int i = 0; i < 1500; ++i) {
    const std::string out = demo.Stdout();
    if (std::regex_search(out, match, url)) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(match.empty()) << demo.Stdout() << demo.Stderr();
  const std::string log = dir() + "/map.log";
  Subprocess check = StartCheck("map", match[1].str(), log);
  auto code = check.Wait(120s);
  ASSERT_TRUE(code) << ReadFile(log);
  EXPECT_EQ(*code, 0) << ReadFile(log) << demo.Stdout();
  std::cout << ReadFile(log);
  demo.process().Signal(SIGINT);
  EXPECT_EQ(demo.Wait(60s), 0) << demo.Stdout() << demo.Stderr();
}

}  // namespace
}  // namespace walden::testing
