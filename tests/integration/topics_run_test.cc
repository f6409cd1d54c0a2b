// Topics under `walden run` (design §12): a producer keeps producing while walden is killed
// -9 again and again and retention drops old partitions; afterwards the archive and what
// PostgreSQL still holds give every committed message exactly once, and the mirror holds
// the latest message per key. Plus the CLI as scripts use it.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
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
#include "topics/schema.h"

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
  const char* iterations = std::getenv("WALDEN_CRASH_ITERATIONS");  // make soak: many more
  for (int i = 0; i < (iterations ? std::max(1, std::atoi(iterations)) : 4); ++i) {
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
  // Status shows the topic: every committed message counted (rollbacks leave no gap), bytes
  // in PostgreSQL and in the archive.
  json topic;
  for (const auto deadline = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < deadline && topic.is_null();) {
    const CommandResult status =
        RunWalden({"status", "--json", "--data-dir", ScratchDir() + "/data"});
    const json parsed = json::parse(status.output, nullptr, false);
    if (parsed.is_object() && !parsed.value("topics", json::array()).empty() &&
        parsed["topics"][0].value("archived_bytes", 0) > 0) {
      topic = parsed["topics"][0];
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(topic.is_null()) << "no topic in walden status";
  EXPECT_EQ(topic["topic"], "fleet");
  EXPECT_EQ(topic["partitions"], 2);
  EXPECT_EQ(topic["messages"], committed.size());
  EXPECT_GT(topic["hot_bytes"].get<int64_t>(), 0);
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
  // The same history through walden: history.walden_topics.<topic>.
  const CommandResult history = RunWalden(
      {"query",
       "SELECT count(DISTINCT (partition, \"offset\")) AS n FROM history.walden_topics.fleet",
       "--format", "csv", "--allow-full-scan", "--data-dir", ScratchDir() + "/data",
       "--archive-url", "file://" + ScratchDir() + "/archive"});
  EXPECT_EQ(history.output, "n\n" + std::to_string(archived.size()) + "\n");
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
  // Rebuilt from the archive alone, the mirror is the same.
  std::filesystem::rename(ScratchDir() + "/data/mirror.duckdb", ScratchDir() + "/old.duckdb");
  const CommandResult rebuilt =
      RunWalden({"mirror", "rebuild", "--data-dir", ScratchDir() + "/data", "--archive-url",
                 "file://" + ScratchDir() + "/archive"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  EXPECT_EQ(DuckRows(ScratchDir() + "/data/mirror.duckdb",
                     "SELECT key, value::VARCHAR FROM walden_topics.fleet ORDER BY key"),
            latest);
  DropSlot("topics_slot");
}

TEST_F(TopicsRunTest, TheCommandsComposeWithShellPipes) {
  CommandResult r = Walden({"topic", "create", "orders", "--partitions", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "{\"partitions\":2,\"topic\":\"orders\"}\n");
  r = Walden({"topic", "produce", "orders"}, "{\"a\": 1}\nnope\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "walden: line 2 of the input is not JSON: nope\n");
  EXPECT_EQ(Rows("SELECT count(*) FROM walden_topics.orders")[0][0], "0");

  r = Walden({"topic", "produce", "orders", "--envelope"},
             "{\"value\": {\"n\": 1}, \"key\": \"k\"}\n{\"value\": 2, \"key\": \"k\", "
             "\"headers\": {\"h\": \"x\"}}\n{\"value\": [3]}\n");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::ranges::count(r.output, '\n'), 3);
  r = Walden({"topic", "consume", "orders", "--group", "g", "--max", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::ranges::count(r.output, '\n'), 2) << r.output;
  r = Walden({"topic", "consume", "orders", "--group", "g"});
  EXPECT_EQ(std::ranges::count(r.output, '\n'), 1) << r.output;
  r = Walden({"topic", "consume", "orders", "--group", "g"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "");
  r = Walden({"group", "list"});
  EXPECT_EQ(json::parse(r.output)["lag"], 0) << r.output;

  // consume | produce --envelope copies values, keys and headers.
  ASSERT_EQ(Walden({"topic", "create", "copy"}).exit_code, 0);
  const std::string pipe = WaldenBinary() + " topic consume orders --group copier --source '" +
                           AdminConninfo() + "' | " + WaldenBinary() +
                           " topic produce copy --envelope --source '" + AdminConninfo() + "'";
  auto piped = RunCommand({.argv = {"/bin/sh", "-c", pipe}}, 60s);
  ASSERT_TRUE(piped);
  EXPECT_EQ(piped->exit_code, 0) << piped->output;
  EXPECT_EQ(
      Rows("SELECT key, value::text, headers::text FROM walden_topics.copy ORDER BY value::text"),
      Rows("SELECT key, value::text, headers::text FROM walden_topics.orders "
           "ORDER BY value::text"));

  r = Walden({"topic", "produce", "nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(
      r.output,
      "walden: unknown topic 'nope'; hint: create it with SELECT walden.create_topic('nope')\n");
  r = Walden({"topic", "drop", "orders"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, ::testing::HasSubstr("has consumer groups (copier, g)"));

  ASSERT_EQ(Walden({"queue", "create", "mail", "--max-attempts", "2"}).exit_code, 0);
  r = Walden({"queue", "enqueue", "mail"}, "{\"to\": \"a\"}\n{\"to\": \"b\"}\n");
  EXPECT_EQ(r.output, "{\"id\" : 1}\n{\"id\" : 2}\n");
  r = Walden({"queue", "dequeue", "mail", "--max", "5"});
  EXPECT_EQ(std::ranges::count(r.output, '\n'), 2) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("\"attempt\":1"));
  r = Walden({"queue", "ack", "mail", "1", "2"});
  EXPECT_EQ(r.output, "{\"acked\":2}\n");
  r = Walden({"queue", "list"});
  const json listed = json::parse(r.output);
  EXPECT_EQ(listed["ready"], 0);
  EXPECT_EQ(listed["hidden"], 0);
  EXPECT_EQ(listed["dead"], 0);

  r = Walden({"topics", "init"});
  EXPECT_THAT(r.output,
              ::testing::HasSubstr("is installed in database " + database() + "; nothing to do"));
  // Another walden's API version: refused, with what to do.
  Exec("UPDATE walden.schema_version SET version = 99");
  const std::string newer = "walden: database " + database() +
                            " has topics API version 99, newer than this walden's " +
                            std::to_string(topics::LatestVersion()) + "; use a newer walden\n";
  r = Walden({"topic", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, newer);
  std::vector<std::string> run = RunArgs();
  run.erase(run.begin() + 3, run.begin() + 5);  // Walden() adds --source
  r = Walden(run);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr(newer));
}

TEST_F(TopicsRunTest, ARoleThatCannotReadTheApiStillStreams) {
  CreateRole("limited", "Lim1ted-pw", "REPLICATION");
  Exec("CREATE TABLE public.t (id int PRIMARY KEY)");
  Exec("ALTER TABLE public.t OWNER TO limited");
  Exec("GRANT CREATE ON DATABASE \"" + database() + "\" TO limited");  // its publication
  std::vector<std::string> args = RunArgs();
  args[4] = TcpUrl("limited");  // --source
  args.insert(args.end(), {"--source-tables", "public.t"});
  WaldenProcess run(args, {{"PGPASSWORD", "Lim1ted-pw"}});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  EXPECT_THAT(run.Stderr(),
              ::testing::HasSubstr("run: topics maintenance is off: permission denied for schema "
                                   "walden"));
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("topics_slot");
}

}  // namespace
}  // namespace walden::testing
