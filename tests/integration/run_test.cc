// `walden run` as a real process: kill -9 at random moments while a workload runs, restart
// each time; afterwards the archive holds every committed change exactly once, and
// replaying it gives the source tables row for row. Then a SIGTERM stops it cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "archive/manifest.h"
#include "duck/duckdb.h"
#include "store/local_store.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

int Iterations() {
  const char* env = std::getenv("WALDEN_CRASH_ITERATIONS");
  return env ? std::max(1, std::atoi(env)) : 10;
}

class RunTest : public PgTest {
 protected:
  std::string dir() const { return ::testing::TempDir() + "/run-" + database(); }
  std::vector<std::string> RunArgs(const std::string& flush_interval) {
    return {"run",
            "--source",
            AdminConninfo(),
            "--data-dir",
            dir() + "/data",
            "--archive-url",
            "file://" + dir() + "/archive",
            "--archive-flush-interval",
            flush_interval,
            "--source-slot",
            "run_slot",
            "--source-status-interval",
            "200ms"};
  }

  // Rows of `sql` over the archive's live files (as the manifest says) with plain DuckDB.
  std::vector<Row> ArchiveRows(const std::string& sql) {
    auto store = store::LocalStore::Open(dir() + "/archive");
    archive::Manifest manifest(**store);
    auto state = manifest.Load();
    EXPECT_TRUE(state) << state.error().message;
    std::string files;
    for (const auto& [key, file] : state->live) {
      files += (files.empty() ? "'" : ", '") + dir() + "/archive/" + key + "'";
    }
    auto db = duck::Database::Open(":memory:");
    auto conn = duck::Connection::Open(*db);
    EXPECT_TRUE(conn->Execute("CREATE VIEW changes AS SELECT * FROM read_parquet([" + files +
                              "], union_by_name = true)"));
    auto result = conn->Query(sql);
    EXPECT_TRUE(result) << sql << ": " << result.error().message;
    std::vector<Row> rows;
    for (size_t r = 0; result && r < result->rows(); ++r) {
      Row row;
      for (size_t c = 0; c < result->columns(); ++c) row.push_back(result->Text(r, c));
      rows.push_back(std::move(row));
    }
    return rows;
  }
};

TEST_F(RunTest, KillNineAnywhereLosesAndDuplicatesNothing) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text)");
  Exec("CREATE TABLE events (id bigint PRIMARY KEY, kind text, payload jsonb)");
  {
    // The slot must exist before the workload: earlier changes are the snapshot's business.
    WaldenProcess first(RunArgs("100ms"));
    ASSERT_TRUE(first.WaitForLog("run: streaming slot", 30s)) << first.Stderr();
    first.process().Signal(SIGTERM);
    ASSERT_EQ(first.Wait(30s), 0) << first.Stderr();
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> changes{0};
  std::thread workload([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    std::mt19937 random(42);
    int64_t next_event = 1;
    while (!stop) {
      const int id = static_cast<int>(random() % 200);
      std::string sql;
      switch (random() % 4) {
        case 0:
          sql = "INSERT INTO accounts VALUES (" + std::to_string(id) +
                ", 0, 'new') ON CONFLICT "
                "DO NOTHING";
          break;
        case 1:
          sql = "UPDATE accounts SET balance = balance + 1, note = 'u' WHERE id = " +
                std::to_string(id);
          break;
        case 2:
          sql = "DELETE FROM accounts WHERE id = " + std::to_string(id);
          break;
        default:
          sql =
              "INSERT INTO events SELECT g, 'k', jsonb_build_object('n', g) FROM "
              "generate_series(" +
              std::to_string(next_event) + ", " + std::to_string(next_event + 9) + ") g";
          next_event += 10;
      }
      auto result = conn->Exec(sql);
      ASSERT_TRUE(result) << result.error().message;
      changes += result->affected();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  std::mt19937 random(7);
  for (int i = 0; i < Iterations(); ++i) {
    WaldenProcess run(RunArgs(std::to_string(50 + random() % 400) + "ms"));
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 1200));
    run.process().Signal(SIGKILL);
    EXPECT_EQ(run.Wait(30s), 128 + SIGKILL);
  }
  stop = true;
  workload.join();

  // Catch up, then stop cleanly.
  const std::string target = Rows("SELECT pg_current_wal_lsn()")[0][0].value();
  WaldenProcess last(RunArgs("100ms"));
  ASSERT_TRUE(last.WaitForLog("run: streaming slot", 30s)) << last.Stderr();
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline &&
         Rows("SELECT confirmed_flush_lsn >= '" + target +
              "' FROM pg_replication_slots WHERE slot_name = 'run_slot'")[0][0] != "t") {
    std::this_thread::sleep_for(50ms);
  }
  last.process().Signal(SIGTERM);
  ASSERT_EQ(last.Wait(60s), 0) << last.Stderr();

  // Exactly once: every (commit LSN, position) once, and as many changes as were committed.
  const auto counts =
      ArchiveRows("SELECT count(*), count(DISTINCT (_walden_lsn, _walden_seq)) FROM changes");
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0][0], counts[0][1]);
  EXPECT_EQ(counts[0][0], std::to_string(changes.load()))
      << "events archived: "
      << ArchiveRows("SELECT count(*) FROM changes WHERE kind IS NOT NULL")[0][0].value_or("?")
      << ", in source: " << Rows("SELECT count(*) FROM events")[0][0].value_or("?") << "; commits: "
      << ArchiveRows("SELECT count(DISTINCT _walden_lsn) FROM changes")[0][0].value_or("?");
  // Replaying the history gives the source tables.
  const auto replayed = ArchiveRows(
      "SELECT id::VARCHAR, balance::VARCHAR, note FROM (SELECT *, row_number() OVER (PARTITION "
      "BY id ORDER BY _walden_lsn DESC, _walden_seq DESC) AS n FROM changes WHERE balance IS NOT "
      "NULL OR _walden_op = 'd') WHERE n = 1 AND _walden_op <> 'd' ORDER BY id");
  EXPECT_EQ(replayed,
            Rows("SELECT id::text, balance::text, note FROM accounts ORDER BY accounts.id"));
  DropSlot("run_slot");
}

TEST_F(RunTest, SecondRunOnTheSameDataDirectoryIsRefused) {
  std::filesystem::remove_all(dir());
  WaldenProcess first(RunArgs("1s"));
  ASSERT_TRUE(first.WaitForLog("run: streaming slot", 30s)) << first.Stderr();
  const CommandResult second = RunWalden(RunArgs("1s"));
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_EQ(second.output, "walden: another walden is running with data_dir " + dir() +
                               "/data; stop it first, or give this one its own data_dir\n");
  first.process().Signal(SIGTERM);
  EXPECT_EQ(first.Wait(30s), 0) << first.Stderr();
  DropSlot("run_slot");
}

}  // namespace
}  // namespace walden::testing
