// kill -9 under the DDL-heavy workload of issue #16 item 7 (numeric, interval, arrays,
// TOAST, savepoints, streamed 50k-row transactions, ADD/DROP COLUMN, a retype, TRUNCATE):
// before any archive flush, and (the soak's shape) spread over streaming, flushes,
// compaction, the initial load and online snapshots. Afterwards mirror = source row for
// row, the archive verifies, and the archive alone rebuilds the same mirror.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "common/identifiers.h"
#include "tests/integration/mirror_fixture.h"
#include "tests/integration/mirror_workload.h"

namespace walden::testing {
namespace {

// One transaction of the line-items workload of issue #16 item 7 (numeric, interval, arrays,
// TOAST, savepoints, a 50k-row transaction, ADD COLUMN ... NOT NULL DEFAULT, a smallint
// column retyped to int, DROP COLUMN, TRUNCATE), by step — the big ones every 500 steps,
// a few seconds apart, so that kills fall between them; `next_id` is the next free key.
std::string LineItemsTransaction(int step, std::mt19937& random, int64_t& next_id) {
  auto pick = [&](int64_t n) { return static_cast<int64_t>(random() % static_cast<uint64_t>(n)); };
  switch (step) {
    case 500: {
      const int64_t from = next_id;
      next_id += 50000;
      return fmt::format(
          "INSERT INTO line_items (id, price, qty, note, tags) SELECT g, g % 1000 + 0.25, g % 30, "
          "CASE WHEN g % 100 = 0 THEN repeat('t', 3000) ELSE 'n' || g END, ARRAY['a', g::text] "
          "FROM generate_series({}, {}) g",
          from, next_id - 1);
    }
    case 1000:
      return "ALTER TABLE line_items ADD COLUMN status text NOT NULL DEFAULT 'new'";
    case 1500:
      return "ALTER TABLE line_items ALTER COLUMN qty TYPE int";
    case 2000:
      return "ALTER TABLE line_items DROP COLUMN span";
    case 2500:
      return "TRUNCATE line_items";
    default:
      break;
  }
  const int64_t id = next_id++;
  const int64_t some = 1 + pick(std::max<int64_t>(1, next_id - 1));
  std::string sql = fmt::format(
      "BEGIN; INSERT INTO line_items (id, price, qty, note, tags) VALUES ({}, {}.{:02}, {}, {}, "
      "ARRAY['x', NULL, 'y z']); UPDATE line_items SET price = price + 1.5 WHERE id = {};",
      id, pick(100000), pick(100), pick(300),
      pick(4) == 0 ? "repeat('T', 4000)" : fmt::format("'note {}'", id), some);
  if (step < 2000 && pick(3) == 0) {
    sql += fmt::format("UPDATE line_items SET span = '-1 day 02:03:04.5' WHERE id = {};", some);
  }
  if (pick(4) == 0) {
    sql += fmt::format("SAVEPOINT s; DELETE FROM line_items WHERE id = {}; ", id);
    sql += pick(2) == 0 ? "ROLLBACK TO s;" : "RELEASE s;";
  }
  if (pick(5) == 0) sql += fmt::format("DELETE FROM line_items WHERE id = {};", some + 1);
  return sql + "COMMIT";
}

class DdlKillTest : public MirrorTest {
 protected:
  void CreateLineItems() {
    Exec(
        "CREATE TABLE line_items (id int PRIMARY KEY, price numeric(10,2), qty smallint, note "
        "text, tags text[], span interval)");
    // Large transactions reach walden in pieces before they commit (streamed).
    Exec("ALTER DATABASE " + QuoteIdent(database()) + " SET logical_decoding_work_mem = '64kB'");
  }
  // Writes both workloads until `stop`, and at least past every schema change.
  std::thread StartWriter(const std::atomic<bool>& stop) {
    return std::thread([this, &stop] {
      auto conn = pg::Connection::Open(AdminConninfo());
      MirrorWorkload workload(Seed() + 3);
      std::mt19937 random(Seed() + 4);
      int64_t next_id = 1;
      for (int step = 0; !stop || step <= 2 * 2500 + 1; ++step) {
        auto done = conn->Exec(step % 2 == 0 ? workload.Transaction(step % 100000, 100000)
                                             : LineItemsTransaction(step / 2, random, next_id));
        ASSERT_TRUE(done) << step << ": " << done.error().message;
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  // A last run catches up and finishes every snapshot; then mirror = source, the archive
  // verifies, and a mirror rebuilt from the archive alone is equal too.
  void FinishAndCompare(std::vector<QualifiedName> tables) {
    WaldenProcess last(RunArgs());
    ASSERT_TRUE(last.WaitForLog("run: streaming slot", 60s)) << last.Stderr();
    ASSERT_TRUE(WaitForCaughtUp("mirror_slot", 120s)) << last.Stderr();
    // A table PostgreSQL rewrote comes back through an online snapshot, and an interrupted
    // snapshot resumes: wait until no job runs and no table waits for one, twice in a row.
    for (int i = 0, idle = 0; i < 1500 && idle < 2; ++i) {
      const CommandResult status = RunWalden({"status", "--json", "--data-dir", dir() + "/data"});
      const auto json = nlohmann::json::parse(status.output, nullptr, false);
      const bool busy = json.is_discarded() ||
                        status.output.find("resync-required") != std::string::npos ||
                        (json.contains("snapshot") && json["snapshot"].is_object() &&
                         !json["snapshot"]["job"].is_null());
      idle = busy ? 0 : idle + 1;
      std::this_thread::sleep_for(500ms);
    }
    CatchUpAndStop(last);
    tables.push_back({"public", "line_items"});
    ExpectMirrorEqualsSource(tables);
    EXPECT_THAT(last.Stderr(), ::testing::Not(::testing::HasSubstr("cannot read")));
    const CommandResult verified = RunWalden({"archive", "verify", "--data-dir", dir() + "/data"});
    EXPECT_EQ(verified.exit_code, 0) << verified.output;
    std::filesystem::remove(mirror());
    std::filesystem::remove(mirror() + ".wal");
    const CommandResult rebuilt = RunWalden({"mirror", "rebuild", "--data-dir", dir() + "/data"});
    ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
    ExpectMirrorEqualsSource(tables);
    DropSlot("mirror_slot");
  }
};

// Issue #16 item 7: kill -9 every 1.5–4 s while the archive has not flushed yet (so its
// watermark stays behind the mirror's and the slot replays into both).
TEST_F(DdlKillTest, KillNineBeforeArchiveFlushesUnderDdlAndStreamedTransactions) {
  std::filesystem::remove_all(dir());
  Exec(MirrorWorkload::SetupSql());
  CreateLineItems();
  CreateSlot();
  std::atomic<bool> stop{false};
  std::thread writer = StartWriter(stop);
  std::mt19937 random(Seed());
  std::vector<std::string> args = RunArgs();
  *(std::ranges::find(args, "--archive-flush-interval") + 1) = "1h";
  ASSERT_NO_FATAL_FAILURE(KillNineRepeatedly(
      random, [&] { return args; }, 1500ms, 2500ms));
  stop = true;
  writer.join();
  FinishAndCompare(MirrorWorkload::Tables());
}

// The soak's shape (make soak runs it with many more kills): the first kills fall in the
// initial load of a 300k-row table, each run flushes the archive every 50–400 ms, every
// other run is asked for an online snapshot of the line items, and after every other run
// a `walden archive compact` runs, every other one of them killed.
TEST_F(DdlKillTest, KillNineAnywhereUnderDdlWhileFlushingCompactingAndSnapshotting) {
  std::filesystem::remove_all(dir());
  Exec(MirrorWorkload::SetupSql());
  CreateLineItems();
  Exec("CREATE TABLE preloaded (id int PRIMARY KEY, v text, n numeric)");
  Exec("INSERT INTO preloaded SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 300000) g");
  std::atomic<bool> stop{false};
  std::thread writer = StartWriter(stop);
  std::mt19937 random(Seed() + 6);
  // Where the kills fell, to prove they were spread (a slow or fast machine moves them).
  std::map<std::string, int> killed;
  for (int i = 0; i < Iterations(); ++i) {
    std::vector<std::string> args = RunArgs();
    *(std::ranges::find(args, "--archive-flush-interval") + 1) =
        std::to_string(50 + random() % 350) + "ms";
    WaldenProcess run(args);
    // The initial load runs before streaming starts: the first kills fall inside it.
    bool loading = false;
    for (auto until = std::chrono::steady_clock::now() + 60s;; std::this_thread::sleep_for(5ms)) {
      const std::string log = run.Stderr();
      loading = log.find("snapshot: initial load of") != std::string::npos;
      if (loading || log.find("run: streaming slot") != std::string::npos) break;
      ASSERT_LT(std::chrono::steady_clock::now(), until) << log;
    }
    std::optional<WaldenProcess> asked;
    if (!loading && i % 2 == 0) {
      asked.emplace(std::vector<std::string>{"snapshot", "--table", "public.line_items",
                                             "--data-dir", dir() + "/data"});
    }
    std::this_thread::sleep_for(loading ? 50ms + std::chrono::milliseconds(random() % 500)
                                        : 300ms + std::chrono::milliseconds(random() % 2500));
    run.process().Signal(SIGKILL);
    EXPECT_EQ(run.Wait(30s), 128 + SIGKILL);
    const std::string log = run.Stderr();
    if (loading && log.find("initial load done") == std::string::npos) ++killed["initial load"];
    if (asked && asked->process().Running()) ++killed["online snapshot"];
    if (log.find("archive: commit") != std::string::npos) ++killed["after archive flushes"];
    if (i % 2 == 1) {
      WaldenProcess compact({"archive", "compact", "--data-dir", dir() + "/data"});
      if (i % 4 == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 120));
        compact.process().Signal(SIGKILL);
      }
      const int code = compact.Wait(120s);
      ++killed[code == 128 + SIGKILL ? "compaction" : "compaction completed"];
      if (code != 128 + SIGKILL) {
        EXPECT_EQ(code, 0) << compact.Stdout() << compact.Stderr();
      }
    }
  }
  stop = true;
  writer.join();
  std::vector<QualifiedName> tables = MirrorWorkload::Tables();
  tables.push_back({"public", "preloaded"});
  FinishAndCompare(tables);
  for (const auto& [where, count] : killed)
    std::cout << "killed in " << where << ": " << count << "\n";
  EXPECT_GE(killed["initial load"], 1);
  EXPECT_GE(killed["online snapshot"], 1);
  if (Iterations() >= 4) {
    EXPECT_GE(killed["after archive flushes"], 1);
    EXPECT_GE(killed["compaction"] + killed["compaction completed"], Iterations() / 2);
    EXPECT_GE(killed["compaction completed"], 1);
  }
}

}  // namespace
}  // namespace walden::testing
