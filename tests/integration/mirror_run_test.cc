// The mirror as users get it: `walden run` against real PostgreSQL, then every mirror table
// compared with its source row for row, every column, typed (tests/support/mirror_compare).
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "duck/duckdb.h"
#include "server/http_server.h"
#include "tests/integration/mirror_fixture.h"
#include "tests/integration/mirror_workload.h"
#include "tests/support/duck_reader.h"
#include "tests/support/mirror_compare.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {


TEST_F(MirrorTest, RandomWorkloadLeavesEveryTableEqualToItsSource) {
  std::filesystem::remove_all(dir());
  Exec(MirrorWorkload::SetupSql());
  CreateSlot();
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  auto conn = pg::Connection::Open(AdminConninfo());
  ASSERT_TRUE(conn) << conn.error().message;
  MirrorWorkload workload(Seed());
  const int steps = 400;
  for (int step = 0; step < steps; ++step) {
    const std::string sql = workload.Transaction(step, steps);
    auto done = conn->Exec(sql);
    ASSERT_TRUE(done) << sql << ": " << done.error().message;
  }
  CatchUpAndStop(run);
  ExpectMirrorEqualsSource(MirrorWorkload::Tables());
  const auto states = DuckRows(mirror(), "SELECT table_name, state FROM walden.tables ORDER BY 1");
  EXPECT_THAT(states, ::testing::Contains(Row{"log", "append-only"}));
  EXPECT_THAT(states, ::testing::Contains(Row{"full_events", "streaming"}));
  EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr(" error ")));
  DropSlot("mirror_slot");
}

TEST_F(MirrorTest, RebuildFromTheArchiveAloneMakesTheMirrorEqualAgain) {
  std::filesystem::remove_all(dir());
  Exec(MirrorWorkload::SetupSql());
  CreateSlot();
  MirrorWorkload workload(Seed() + 2);
  auto conn = pg::Connection::Open(AdminConninfo());
  const int steps = 300;
  auto drive = [&](int from, int to) {
    for (int step = from; step < to; ++step) {
      auto done = conn->Exec(workload.Transaction(step, steps));
      ASSERT_TRUE(done) << done.error().message;
    }
  };
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    drive(0, 200);
    CatchUpAndStop(run);
  }
  // The mirror file is lost: the archive alone brings it back.
  std::filesystem::remove(mirror());
  std::filesystem::remove(mirror() + ".wal");
  const CommandResult rebuilt = RunWalden({"mirror", "rebuild", "--data-dir", dir() + "/data"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  EXPECT_THAT(rebuilt.output, ::testing::HasSubstr("rebuilt " + mirror() + " from file://"));
  ExpectMirrorEqualsSource(MirrorWorkload::Tables());
  // Lost again while stopped: `walden run` rebuilds it, then streams on from the archive.
  std::filesystem::remove(mirror());
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
  EXPECT_THAT(run.Stderr(), ::testing::HasSubstr("is missing; rebuilding it from the archive"));
  drive(200, steps);
  CatchUpAndStop(run);
  ExpectMirrorEqualsSource(MirrorWorkload::Tables());
  // Without an archive there is nothing to rebuild from, and it says so.
  const CommandResult empty = RunWalden({"mirror", "rebuild", "--data-dir", dir() + "/empty"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_THAT(empty.output, ::testing::HasSubstr("has no commits; there is nothing to "
                                                 "rebuild from"));
  DropSlot("mirror_slot");
}

// Transfers keep the total constant in every committed state: any query that saw half a
// source transaction would see another total.
TEST_F(MirrorTest, QueriesAndExportsSeeWholeTransactionsWhileMergesContinue) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE bank (id int PRIMARY KEY, balance bigint NOT NULL)");
  CreateSlot();
  WaldenProcess run(RunArgs("20ms"));
  ASSERT_TRUE(run.WaitForLog("run: serving http://", 30s)) << run.Stderr();
  Exec("INSERT INTO bank SELECT g, 1000 FROM generate_series(1, 100) g");
  ASSERT_TRUE(WaitForCaughtUp("mirror_slot"));
  std::atomic<bool> stop{false};
  std::thread transfers([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    std::mt19937 random(Seed());
    while (!stop) {
      const int from = 1 + static_cast<int>(random() % 100),
                to = 1 + static_cast<int>(random() % 100);
      ASSERT_TRUE(conn->Exec(fmt::format(
          "BEGIN; UPDATE bank SET balance = balance - 7 WHERE id = {}; UPDATE bank SET balance = "
          "balance + 7 WHERE id = {}; COMMIT",
          from, to)));
    }
  });
  const std::vector<std::string> data = {"--data-dir", dir() + "/data"};
  auto walden = [&](std::vector<std::string> args) {
    args.insert(args.end(), data.begin(), data.end());
    return RunWalden(args);
  };
  for (int i = 0; i < 15; ++i) {
    const CommandResult total =
        walden({"query", "SELECT count(*) AS accounts, sum(balance) AS total FROM public.bank",
                "--format", "csv"});
    ASSERT_EQ(total.exit_code, 0) << total.output;
    EXPECT_EQ(total.output, "accounts,total\n100,100000\n");
  }
  // Other processes cannot open the file while walden writes it; a published copy they can.
  EXPECT_FALSE(duck::Database::Open(mirror(), /*read_only=*/true));
  const CommandResult exported = walden({"mirror", "export", dir() + "/exports/copy.duckdb"});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_EQ(exported.output, "exported the mirror to " + dir() + "/exports/copy.duckdb\n");
  EXPECT_EQ(DuckRows(dir() + "/exports/copy.duckdb", "SELECT sum(balance) FROM public.bank"),
            (std::vector<Row>{{"100000"}}));
  const CommandResult again = walden({"mirror", "export", dir() + "/exports/copy.duckdb"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.output, ::testing::HasSubstr("copy.duckdb exists; export writes a new copy"));
  const CommandResult refused = walden({"query", "DROP TABLE public.bank"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, ::testing::HasSubstr("(walden query runs one read-only statement"));
  // walden's own state beside the data: is the table still receiving changes, how far are
  // the sinks.
  const CommandResult status =
      walden({"query",
              "SELECT t.table_name, t.state, t.updates > 0 AS updated, s.sink, s.watermark_lsn <> "
              "'0/0' AS moved, l.slot_name FROM walden_status.tables t, walden_status.sinks s, "
              "walden_status.slot l ORDER BY s.sink",
              "--format", "csv"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_EQ(status.output,
            "table_name,state,updated,sink,moved,slot_name\n"
            "bank,streaming,true,archive,true,mirror_slot\n"
            "bank,streaming,true,mirror,true,mirror_slot\n");
  stop = true;
  transfers.join();
  CatchUpAndStop(run);
  // Stopped: the tables' status comes from the mirror; nothing streams.
  const CommandResult stopped =
      walden({"query",
              "SELECT table_name, state, (SELECT count(*) FROM walden_status.sinks) AS sinks FROM "
              "walden_status.tables",
              "--format", "csv"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  EXPECT_EQ(stopped.output, "table_name,state,sinks\nbank,streaming,0\n");
  // Stopped: the same command reads the file directly.
  const CommandResult offline = walden({"query", "SELECT sum(balance) AS total FROM public.bank"});
  EXPECT_EQ(offline.exit_code, 0) << offline.output;
  EXPECT_EQ(offline.output, "total\n------\n100000\n(1 row)\n");
  ExpectMirrorEqualsSource({{"public", "bank"}});
  DropSlot("mirror_slot");
}

// A transaction the mirror keeps nothing of (here another program's logical message) on an
// otherwise idle source: the mirror's watermark, and so the slot's confirmed position, pass
// it within about a second, not only at the next heartbeat (WAL would pile up meanwhile).
TEST_F(MirrorTest, AnIdleSourcesLastTransactionIsConfirmedWithinSeconds) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  std::vector<std::string> args = RunArgs();
  args.insert(args.end(), {"--canary-interval", "1h", "--canary-stale-after", "3h"});
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(WaitForCaughtUp("mirror_slot", 30s)) << run.Stderr();
  const auto lsn =
      Rows("SELECT pg_logical_emit_message(true, 'someone_else', 'x')::text")[0][0].value_or("");
  EXPECT_TRUE(WaitForConfirmed("mirror_slot", lsn, 10s)) << run.Stderr();
  CatchUpAndStop(run);
  DropSlot("mirror_slot");
}

TEST_F(MirrorTest, MetricsAndStatusCountWhatTheWorkloadDid) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  CreateSlot();
  // The archive on an S3 server this time.
  auto s3 = S3Server::Start("walden-metrics");
  ASSERT_TRUE(s3) << s3.error().message;
  std::vector<std::string> args = RunArgs();
  // One heartbeat (at start) and no more: a transaction with one message.
  for (const std::string& arg :
       {std::string("--canary-interval"), std::string("1h"), std::string("--canary-stale-after"),
        std::string("3h"), std::string("--archive-url"), std::string("s3://walden-metrics/a"),
        std::string("--archive-endpoint"), (*s3)->endpoint()}) {
    args.push_back(arg);
  }
  const std::vector<std::pair<std::string, std::string>> credentials = {
      {"AWS_ACCESS_KEY_ID", S3Server::kAccessKey}, {"AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey}};
  WaldenProcess run(args, credentials);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g");
  Exec("UPDATE t SET v = 'w' WHERE id <= 3");
  Exec("DELETE FROM t WHERE id > 8");
  ASSERT_TRUE(WaitForCaughtUp("mirror_slot"));
  std::ifstream file(dir() + "/data/server.json");
  const auto server = nlohmann::json::parse(file);
  const std::string address = server["address"];
  std::string metrics;
  auto watermark = [&](const char* sink) {
    const std::string key = std::string("walden_sink_watermark_lsn_bytes{sink=\"") + sink + "\"} ";
    const size_t at = metrics.find(key);
    return at == std::string::npos
               ? std::string("?")
               : metrics.substr(at + key.size(), metrics.find('\n', at) - at - key.size());
  };
  // The run loop publishes every 250 ms; the archive's flush finishes on its own thread.
  for (int i = 0; i < 100; ++i) {
    metrics = server::Get(address, "/metrics").value_or(server::Response{}).body;
    if (metrics.find("op=\"delete\"} 2\n") != std::string::npos &&
        watermark("archive") == watermark("mirror")) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  for (const char* line :
       {"walden_mirror_rows_total{table=\"public.t\",op=\"insert\"} 10\n",
        "walden_mirror_rows_total{table=\"public.t\",op=\"update\"} 3\n",
        "walden_mirror_rows_total{table=\"public.t\",op=\"delete\"} 2\n",
        "walden_table_schema_version{table=\"public.t\",state=\"streaming\"} 1\n",
        "walden_commit_to_mirror_seconds_count 3\n", "walden_commit_to_archive_seconds_count 3\n",
        "# TYPE walden_slot_lag_bytes gauge\n", "walden_canary_fresh 1\n"}) {
    EXPECT_THAT(metrics, ::testing::HasSubstr(line));
  }
  // Both sinks hold the last source commit.
  EXPECT_EQ(watermark("archive"), watermark("mirror"));
  EXPECT_NE(watermark("mirror"), "0");
  // Heartbeats are source transactions too (one message each), besides the workload's 3.
  auto counter = [&](const std::string& name) {
    const size_t at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + name.size() + 2));
  };
  const int64_t heartbeats = counter("walden_transactions_total") - 3;
  EXPECT_GE(heartbeats, 0);
  EXPECT_EQ(counter("walden_changes_total"), 15 + heartbeats);
  EXPECT_EQ(server::Get(address, "/healthz")->body, "ok\n");
  EXPECT_EQ(server::Get(address, "/readyz")->status, 200);
  const auto status = nlohmann::json::parse(server::Get(address, "/api/status")->body);
  EXPECT_EQ(status["tables"][0]["rows"]["insert"], 10);
  EXPECT_EQ(status["mirror"]["watermark"], status["archive"]["watermark"]);
  const CommandResult running = RunWalden({"status", "--data-dir", dir() + "/data"}, credentials);
  EXPECT_EQ(running.exit_code, 0) << running.output;
  EXPECT_THAT(running.output, ::testing::HasSubstr("walden is running (http://" + address));
  EXPECT_THAT(running.output, ::testing::ContainsRegex("public.t +streaming +1 +10 +3 +2 +0"));
  // The history of every change, through the same query command.
  const std::string history_sql =
      "SELECT _walden_op AS op, count(*) AS n FROM history.public.t GROUP BY ALL ORDER BY op";
  const CommandResult history = RunWalden(
      {"query", "--data-dir", dir() + "/data", "--format", "csv", "--allow-full-scan", history_sql},
      credentials);
  EXPECT_EQ(history.output, "op,n\nc,10\nd,2\nu,3\n");
  CatchUpAndStop(run);
  const CommandResult offline_history =
      RunWalden({"query", "--data-dir", dir() + "/data", "--format", "csv", "--archive-url",
                 "s3://walden-metrics/a", "--archive-endpoint", (*s3)->endpoint(),
                 "--allow-full-scan", history_sql},
                credentials);
  EXPECT_EQ(offline_history.output, "op,n\nc,10\nd,2\nu,3\n");
  const CommandResult stopped =
      RunWalden({"status", "--data-dir", dir() + "/data", "--archive-url", "s3://walden-metrics/a",
                 "--archive-endpoint", (*s3)->endpoint()},
                credentials);
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  EXPECT_THAT(stopped.output, ::testing::HasSubstr("walden is not running"));
  EXPECT_THAT(stopped.output, ::testing::ContainsRegex("public.t +streaming +1 +10 +3 +2 +0"));
  DropSlot("mirror_slot");
}

// Fault injection stops the mirror's merges after 4 s: the canary notices within its
// threshold, /readyz fails and names the stage, and the log says which one is stuck.
TEST_F(MirrorTest, CanaryNamesTheStuckStageWhenMergesStop) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  CreateSlot();
  std::vector<std::string> args = RunArgs();
  for (const char* arg : {"--canary-interval", "200ms", "--canary-stale-after", "2s"}) {
    args.push_back(arg);
  }
  const auto started = std::chrono::steady_clock::now();
  WaldenProcess run(args, {{"WALDEN_FAULT_STALL_MIRROR_AFTER", "4"}});
  ASSERT_TRUE(run.WaitForLog("run: serving http://", 30s)) << run.Stderr();
  std::ifstream file(dir() + "/data/server.json");
  const std::string address = nlohmann::json::parse(file)["address"];
  auto ready = [&] { return server::Get(address, "/readyz").value_or(server::Response{}); };
  bool was_ready = false;
  for (int i = 0; i < 100 && !was_ready; ++i) {
    was_ready = ready().status == 200;
    if (!was_ready) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(was_ready) << run.Stderr();
  server::Response stale;
  while (std::chrono::steady_clock::now() - started < 30s) {
    stale = ready();
    if (stale.status == 503) break;
    std::this_thread::sleep_for(50ms);
  }
  const double after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(stale.status, 503);
  EXPECT_EQ(stale.body, "canary stale: stuck at the mirror\n");
  // Merges stop at 4 s; stale 2 s later, plus one heartbeat interval and the loop's rounds.
  EXPECT_GE(after, 4.0);
  EXPECT_LE(after, 4.0 + 2.0 + 2.5);
  EXPECT_TRUE(
      run.WaitForLog("stuck at the mirror (heartbeats are received but merges do not "
                     "commit)",
                     5s))
      << run.Stderr();
  const auto status = nlohmann::json::parse(server::Get(address, "/api/status")->body);
  EXPECT_EQ(status["canary"]["fresh"], false);
  EXPECT_EQ(status["canary"]["stuck"], "mirror");
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(60s), 0) << run.Stderr();
  DropSlot("mirror_slot");
}

// SIGTERM while changes stream in: exit 0 in bounded time with everything committed before
// the signal in the mirror and the archive; a restart goes on without loss or duplicate.
TEST_F(MirrorTest, SigtermDuringLoadFlushesBothSinksAndRestartContinues) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE ledger (id bigserial PRIMARY KEY, v int)");
  CreateSlot();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    while (!stop) {
      auto done = conn->Exec("INSERT INTO ledger (v) VALUES (1) RETURNING id");
      ASSERT_TRUE(done) << done.error().message;
      committed = std::stoll(std::string(*done->Get(0, 0)));
      std::this_thread::sleep_for(1ms);
    }
  });
  const std::vector<std::string> data = {"--data-dir", dir() + "/data", "--format", "csv"};
  auto query = [&](const std::string& sql) {
    std::vector<std::string> args = {"query", sql, "--allow-full-scan"};
    args.insert(args.end(), data.begin(), data.end());
    return RunWalden(args).output;
  };
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    std::this_thread::sleep_for(1500ms);
    const int64_t before = committed;
    const auto signalled = std::chrono::steady_clock::now();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
    EXPECT_LT(std::chrono::steady_clock::now() - signalled, 20s);
    EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr("stopping before reaching")));
    EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr("stopping without reading on")));
    EXPECT_EQ(query(fmt::format("SELECT count(*) AS n FROM public.ledger WHERE id <= {}", before)),
              fmt::format("n\n{}\n", before))
        << run.Stderr();
    EXPECT_EQ(query(fmt::format("SELECT count(*) AS n FROM history.public.ledger WHERE id <= {}",
                                before)),
              fmt::format("n\n{}\n", before));
  }
  WaldenProcess again(RunArgs());
  ASSERT_TRUE(again.WaitForLog("run: streaming slot", 30s)) << again.Stderr();
  std::this_thread::sleep_for(1s);
  stop = true;
  writer.join();
  CatchUpAndStop(again);
  ExpectMirrorEqualsSource({{"public", "ledger"}});
  const std::string total = std::to_string(committed.load());
  EXPECT_EQ(query("SELECT count(*) AS n, count(DISTINCT (_walden_lsn, _walden_seq)) AS changes, "
                  "max(id) AS last FROM history.public.ledger"),
            "n,changes,last\n" + total + "," + total + "," + total + "\n");
  DropSlot("mirror_slot");
}

// Workload transactions, 2 ms apart, until `stop`.
std::thread Writer(std::atomic<bool>& stop, uint32_t seed, const std::string& conninfo) {
  return std::thread([&stop, seed, conninfo] {
    auto conn = pg::Connection::Open(conninfo);
    MirrorWorkload workload(seed);
    for (int step = 0; !stop; ++step) {
      auto done = conn->Exec(workload.Transaction(step % 100000, 100000));
      ASSERT_TRUE(done) << done.error().message;
      std::this_thread::sleep_for(2ms);
    }
  });
}

TEST_F(MirrorTest, KillNineDuringMergesLosesAndDoublesNothing) {
  std::filesystem::remove_all(dir());
  Exec(MirrorWorkload::SetupSql());
  CreateSlot();
  std::atomic<bool> stop{false};
  std::thread writer = Writer(stop, Seed() + 1, AdminConninfo());
  std::mt19937 random(Seed());
  ASSERT_NO_FATAL_FAILURE(KillNineRepeatedly(
      random, [&] { return RunArgs(std::to_string(20 + random() % 100) + "ms"); }, 200ms, 1500ms));
  stop = true;
  writer.join();
  WaldenProcess last(RunArgs());
  ASSERT_TRUE(last.WaitForLog("run: streaming slot", 30s)) << last.Stderr();
  CatchUpAndStop(last);
  ExpectMirrorEqualsSource(MirrorWorkload::Tables());
  DropSlot("mirror_slot");
}

// Every keyed merge runs out of memory until it is split in 8 parts (fault injection at
// DuckDB's seam): walden merges in parts instead of ending, through kill -9 after kill -9.
TEST_F(MirrorTest, MergesThatRunOutOfMemoryGoOnInPartsThroughKillNine) {
  std::filesystem::remove_all(dir());
  Exec(MirrorWorkload::SetupSql());
  CreateSlot();
  const std::vector<std::pair<std::string, std::string>> fault = {
      {"WALDEN_FAULT_MIRROR_OUT_OF_MEMORY", "8"}};
  std::atomic<bool> stop{false};
  std::thread writer = Writer(stop, Seed() + 2, AdminConninfo());
  std::mt19937 random(Seed());
  ASSERT_NO_FATAL_FAILURE(KillNineRepeatedly(
      random, [&] { return RunArgs(std::to_string(20 + random() % 100) + "ms"); }, 200ms, 1500ms,
      fault));
  stop = true;
  writer.join();
  WaldenProcess last(RunArgs(), fault);
  ASSERT_TRUE(last.WaitForLog("run: streaming slot", 30s)) << last.Stderr();
  auto conn = pg::Connection::Open(AdminConninfo());
  ASSERT_TRUE(conn) << conn.error().message;
  MirrorWorkload workload(Seed() + 3);
  for (int step = 0; step < 50; ++step) {  // updates and deletes while this run merges
    auto done = conn->Exec(workload.Transaction(1000 + step, 100000));
    ASSERT_TRUE(done) << done.error().message;
  }
  CatchUpAndStop(last);
  ExpectMirrorEqualsSource(MirrorWorkload::Tables());
  EXPECT_THAT(last.Stderr(), ::testing::HasSubstr("DuckDB: Out of Memory Error: injected; merging "
                                                  "the "));
  EXPECT_THAT(last.Stderr(), ::testing::HasSubstr(" changes again in 8 parts (raise "
                                                  "mirror.memory_limit if this repeats)"));
  DropSlot("mirror_slot");
}

TEST_F(MirrorTest, SchemaChangesFollowInPlaceOrStopTheTableVisibly) {
  std::filesystem::remove_all(dir());
  Exec(
      "CREATE TABLE s (id int PRIMARY KEY, small int2, label varchar(5), price numeric(8,2), "
      "gone text, r int)");
  Exec("CREATE TABLE rewritten (id int PRIMARY KEY, v int)");
  Exec("CREATE TABLE vol (id int PRIMARY KEY)");
  CreateSlot();
  // Without snapshots, the tables that need one stay as the rewrite left them (otherwise an
  // automatic online snapshot may bring them back before the assertions below).
  std::vector<std::string> args = RunArgs();
  args.insert(args.end(), {"--snapshot-mode", "never"});
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("INSERT INTO s SELECT g, g, 'l' || g, g + 0.25, 'x', g FROM generate_series(1, 5) g");
  Exec("INSERT INTO rewritten VALUES (1, 1); INSERT INTO vol VALUES (1)");
  Exec("ALTER TABLE s ADD COLUMN c int NOT NULL DEFAULT 7");
  Exec("UPDATE s SET r = r WHERE id = 1");
  // walden reads the stored default when it sees the new definition; a later rewrite of the
  // table (the type change below) clears it in the catalog.
  ASSERT_TRUE(WaitForCaughtUp("mirror_slot"));
  Exec("ALTER TABLE s ALTER COLUMN small TYPE int4");
  Exec("INSERT INTO s (id, small, label, price, r) VALUES (6, 600, 'six', 6.5, 6)");
  Exec(
      "ALTER TABLE s ALTER COLUMN small TYPE int8, ALTER COLUMN label TYPE text, "
      "ALTER COLUMN price TYPE numeric(12,2)");
  Exec("ALTER TABLE s DROP COLUMN gone");
  Exec("ALTER TABLE s RENAME COLUMN r TO renamed");
  Exec("UPDATE s SET small = 5000000000, label = 'a much longer label' WHERE id = 1");
  Exec("ALTER TABLE rewritten ALTER COLUMN v TYPE text USING 'v=' || v");
  Exec("UPDATE rewritten SET v = 'changed' WHERE id = 1");
  Exec("ALTER TABLE vol ADD COLUMN r float8 DEFAULT random()");
  Exec("INSERT INTO vol VALUES (2, 0.5)");
  Exec("INSERT INTO s (id, small, label, price, renamed) VALUES (7, 7, 'seven', 7, 7)");
  CatchUpAndStop(run);
  ExpectMirrorEqualsSource({{"public", "s"}});
  EXPECT_EQ(DuckRows(mirror(), "SELECT id, c FROM public.s WHERE id <= 5 ORDER BY id"),
            (std::vector<Row>{{"1", "7"}, {"2", "7"}, {"3", "7"}, {"4", "7"}, {"5", "7"}}));
  EXPECT_EQ(DuckRows(mirror(),
                     "SELECT column_name, data_type FROM information_schema.columns "
                     "WHERE table_name = 's' ORDER BY ordinal_position"),
            (std::vector<Row>{{"id", "INTEGER"},
                              {"small", "BIGINT"},
                              {"label", "VARCHAR"},
                              {"price", "DECIMAL(12,2)"},
                              {"renamed", "INTEGER"},
                              {"c", "INTEGER"}}));
  EXPECT_EQ(
      DuckRows(mirror(),
               "SELECT table_name, state, reason, skipped FROM walden.tables "
               "WHERE table_name <> 's' ORDER BY 1"),
      (std::vector<Row>{
          {"rewritten", "resync-required",
           "column \"v\" changed type from INTEGER to VARCHAR, which rewrote the table in "
           "PostgreSQL",
           "1"},
          {"vol", "resync-required",
           "column \"r\" was added with a default PostgreSQL did not store (a volatile default, "
           "which rewrote the table, or a later rewrite cleared it)",
           "1"}}));
  // The copies keep the state before the rewrite, and the log names the way out.
  EXPECT_EQ(DuckRows(mirror(), "SELECT * FROM public.rewritten"), (std::vector<Row>{{"1", "1"}}));
  EXPECT_THAT(
      run.Stderr(),
      ::testing::HasSubstr("mirror: public.rewritten stopped at this change: column \"v\" changed "
                           "type from INTEGER to VARCHAR"));
  EXPECT_THAT(run.Stderr(), ::testing::HasSubstr("(walden snapshot --table public.rewritten)"));
  DropSlot("mirror_slot");
}

}  // namespace
}  // namespace walden::testing
