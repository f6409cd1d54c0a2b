// Topics under `walden run` (design §12): a producer keeps producing while walden is killed
// -9 again and again and retention drops old partitions; afterwards the archive and what
// PostgreSQL still holds give every committed message exactly once, and the mirror holds
// the latest message per key. Plus the CLI as scripts use it.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "store/local_store.h"
#include "tests/support/archive_reader.h"
#include "tests/support/duck_reader.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class TopicsRunTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    std::filesystem::remove_all(ScratchDir());
    const CommandResult init = Walden({"topics", "init"});
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }

  CommandResult Walden(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.end(), {"--source", AdminConninfo()});
    if (input.empty()) return RunWalden(args);
    const std::string file = ScratchDir() + "/input.jsonl";
    std::filesystem::create_directories(ScratchDir());
    std::ofstream(file) << input;
    std::string command = WaldenBinary();
    for (const std::string& arg : args) command += " '" + arg + "'";
    auto result = RunCommand({.argv = {"/bin/sh", "-c", command + " < " + file}}, 60s);
    EXPECT_TRUE(result);
    return result.value_or(CommandResult{-1, ""});
  }

  std::vector<std::string> RunArgs() {
    return {"run",
            "--server-listen",
            "127.0.0.1:0",
            "--source",
            AdminConninfo(),
            "--data-dir",
            ScratchDir() + "/data",
            "--archive-url",
            "file://" + ScratchDir() + "/archive",
            "--archive-flush-interval",
            "150ms",
            "--source-slot",
            "topics_slot",
            "--source-status-interval",
            "200ms",
            "--topics-maintenance-interval",
            "200ms",
            "--canary-interval",
            "200ms",
            "--canary-stale-after",
            "10s"};
  }

  std::vector<Row> Archive(const std::string& sql) {
    auto store = store::LocalStore::Open(ScratchDir() + "/archive");
    EXPECT_TRUE(store);
    return ArchiveRows(**store, ScratchDir() + "/read", sql);
  }
};

TEST_F(TopicsRunTest, KillNineNeverDropsAnUnarchivedMessage) {
  Exec("SELECT walden.create_topic('fleet', 2, '1 second', '1 second')");
  {
    WaldenProcess first(RunArgs());
    ASSERT_TRUE(first.WaitForLog("run: streaming slot", 30s)) << first.Stderr();
    first.process().Signal(SIGTERM);
    ASSERT_EQ(first.Wait(30s), 0) << first.Stderr();
  }
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::pair<int, int64_t>, std::string> committed;  // (partition, offset) → value
  std::thread producer([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    ASSERT_TRUE(conn);
    std::mt19937 random(3);
    for (int n = 0; !stop; ++n) {
      ASSERT_TRUE(conn->Exec("BEGIN"));
      auto produced = conn->Exec(fmt::format(
          "SELECT p.partition, p.\"offset\", v FROM walden.produce('fleet', ARRAY["
          "'{{\"n\": {0}, \"i\": 0}}', '{{\"n\": {0}, \"i\": 1}}']::jsonb[], ARRAY['plane{1}', "
          "'plane{2}']) WITH ORDINALITY p(partition, \"offset\", o) "
          "JOIN (VALUES (1, '{{\"n\": {0}, \"i\": 0}}'), (2, '{{\"n\": {0}, \"i\": 1}}')) v(o, v) "
          "USING (o)",
          n, random() % 7, random() % 7));
      ASSERT_TRUE(produced) << produced.error().message;
      const bool rollback = random() % 6 == 0;
      ASSERT_TRUE(conn->Exec(rollback ? "ROLLBACK" : "COMMIT"));
      if (!rollback) {
        std::lock_guard lock(mu);
        for (int r = 0; r < produced->rows(); ++r) {
          committed[std::make_pair(static_cast<int>(*produced->Int(r, 0)), *produced->Int(r, 1))] =
              json::parse(produced->Value(r, 2)).dump();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::mt19937 random(11);
  for (int i = 0; i < 4; ++i) {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    std::this_thread::sleep_for(std::chrono::milliseconds(800 + random() % 1500));
    run.process().Signal(SIGKILL);
    EXPECT_EQ(run.Wait(30s), 128 + SIGKILL);
  }
  stop = true;
  producer.join();
  ASSERT_FALSE(HasFatalFailure());

  // The last run catches up and lets retention drop what the archive holds.
  WaldenProcess last(RunArgs());
  ASSERT_TRUE(last.WaitForLog("run: streaming slot", 30s)) << last.Stderr();
  ASSERT_TRUE(WaitForCaughtUp("topics_slot"));
  ASSERT_TRUE(last.WaitForLog("topics: dropped partition", 30s)) << last.Stderr();
  last.process().Signal(SIGTERM);
  ASSERT_EQ(last.Wait(60s), 0) << last.Stderr();

  std::map<std::pair<int, int64_t>, std::string> seen;
  const auto archived = Archive(
      "SELECT partition::VARCHAR, \"offset\"::VARCHAR, value, count(*) OVER "
      "(PARTITION BY partition, \"offset\")::VARCHAR FROM changes WHERE \"offset\" IS NOT NULL");
  for (const Row& row : archived) {
    EXPECT_EQ(row[3], "1") << "archived twice: " << *row[0] << "/" << *row[1];
    seen[{std::stoi(*row[0]), std::stoll(*row[1])}] = json::parse(*row[2]).dump();
  }
  const auto held = Rows("SELECT partition, \"offset\", value::text FROM walden_topics.fleet");
  size_t only_in_postgres = 0;
  for (const Row& row : held) {
    const auto at = std::make_pair(std::stoi(*row[0]), std::stoll(*row[1]));
    if (!seen.contains(at)) ++only_in_postgres;
    seen[at] = json::parse(*row[2]).dump();
  }
  EXPECT_EQ(only_in_postgres, 0u) << "the caught-up archive holds everything PostgreSQL holds";
  EXPECT_EQ(seen, committed);
  EXPECT_LT(held.size(), committed.size()) << "retention dropped nothing";
  // The mirror: the latest message of each key (from the whole history), not the log.
  const auto latest = Archive(
      "SELECT key, value FROM changes WHERE \"offset\" IS NOT NULL "
      "QUALIFY row_number() OVER (PARTITION BY key ORDER BY \"offset\" DESC) = 1 ORDER BY key");
  EXPECT_EQ(latest.size(), 7u);
  EXPECT_EQ(DuckRows(ScratchDir() + "/data/mirror.duckdb",
                     "SELECT key, value::VARCHAR FROM walden_topics.fleet ORDER BY key"),
            latest);
  DropSlot("topics_slot");
}

}  // namespace
}  // namespace walden::testing
