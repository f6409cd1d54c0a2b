// `walden run` as a real process: kill -9 at random moments while a workload runs, restart
// each time; afterwards the archive holds every committed change exactly once, and
// replaying it gives the source tables row for row. Then a SIGTERM stops it cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "archive/manifest.h"
#include "store/local_store.h"
#include "store/s3_store.h"
#include "tests/support/archive_reader.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

int Iterations() {
  const char* env = std::getenv("WALDEN_CRASH_ITERATIONS");
  return env ? std::max(1, std::atoi(env)) : 10;
}

struct S3Run;

class RunTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::vector<std::string> RunArgs(const std::string& flush_interval) {
    return {"run",
            "--server-listen",
            "127.0.0.1:0",
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

  // Rows of `sql` over the archive's live files (as the manifest says) with plain DuckDB;
  // the files are downloaded first, so this works for any store.
  std::vector<Row> ArchiveRows(const std::string& sql, store::ObjectStore* from = nullptr) {
    std::unique_ptr<store::ObjectStore> local;
    if (!from) {
      local = std::move(*store::LocalStore::Open(dir() + "/archive"));
      from = local.get();
    }
    return testing::ArchiveRows(*from, dir() + "/read", sql);
  }

  // A fresh s3rver bucket, an empty scratch folder and table t (defined below).
  std::optional<S3Run> StartS3Run();

  // walden killed at random moments under a mixed workload, then one clean run: every
  // change is archived exactly once, and replaying the archive gives the source.
  // `args(flush_interval)` starts walden on slot `slot` (with `env`); `archive` reads what
  // it wrote.
  void KillNineAnywhere(const std::function<std::vector<std::string>(const std::string&)>& args,
                        const std::vector<std::pair<std::string, std::string>>& env,
                        const std::string& slot, store::ObjectStore* archive) {
    std::filesystem::remove_all(dir());
    Exec("CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text)");
    Exec("CREATE TABLE events (id bigint PRIMARY KEY, kind text, payload jsonb)");
    {
      // The slot must exist before the workload: earlier changes are the snapshot's business.
      WaldenProcess first(args("100ms"), env);
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
      WaldenProcess run(args(std::to_string(50 + random() % 400) + "ms"), env);
      ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 1200));
      run.process().Signal(SIGKILL);
      EXPECT_EQ(run.Wait(30s), 128 + SIGKILL);
    }
    stop = true;
    workload.join();

    // Catch up, then stop cleanly.
    const std::string target = Rows("SELECT pg_current_wal_lsn()")[0][0].value();
    WaldenProcess last(args("100ms"), env);
    ASSERT_TRUE(last.WaitForLog("run: streaming slot", 30s)) << last.Stderr();
    ASSERT_TRUE(WaitForConfirmed(slot, target));
    last.process().Signal(SIGTERM);
    ASSERT_EQ(last.Wait(60s), 0) << last.Stderr();

    // Exactly once: every (commit LSN, position) once, and as many changes as were committed.
    const auto counts = ArchiveRows(
        "SELECT count(*), count(DISTINCT (_walden_lsn, _walden_seq)) FROM changes", archive);
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0][0], counts[0][1]);
    EXPECT_EQ(counts[0][0], std::to_string(changes.load()))
        << "events archived: "
        << ArchiveRows("SELECT count(*) FROM changes WHERE kind IS NOT NULL", archive)[0][0]
               .value_or("?")
        << ", in source: " << Rows("SELECT count(*) FROM events")[0][0].value_or("?")
        << "; commits: "
        << ArchiveRows("SELECT count(DISTINCT _walden_lsn) FROM changes", archive)[0][0].value_or(
               "?");
    // Replaying the history gives the source tables.
    const auto replayed = ArchiveRows(
        "SELECT id::VARCHAR, balance::VARCHAR, note FROM (SELECT *, row_number() OVER (PARTITION "
        "BY id ORDER BY _walden_lsn DESC, _walden_seq DESC) AS n FROM changes WHERE balance IS NOT "
        "NULL OR _walden_op = 'd') WHERE n = 1 AND _walden_op <> 'd' ORDER BY id",
        archive);
    EXPECT_EQ(replayed,
              Rows("SELECT id::text, balance::text, note FROM accounts ORDER BY accounts.id"));
    DropSlot(slot);
  }
};

// A run archiving into s3://walden-run/a at `endpoint`, flushing every 200 ms.
std::vector<std::string> S3RunArgs(const std::string& conninfo, const std::string& dir,
                                   const std::string& endpoint) {
  return {"run",
          "--server-listen",
          "127.0.0.1:0",
          "--source",
          conninfo,
          "--data-dir",
          dir + "/data",
          "--archive-url",
          "s3://walden-run/a",
          "--archive-endpoint",
          endpoint,
          "--archive-flush-interval",
          "200ms",
          "--source-slot",
          "s3_slot",
          "--source-status-interval",
          "200ms"};
}

std::vector<std::pair<std::string, std::string>> S3Credentials() {
  return {{"AWS_ACCESS_KEY_ID", S3Server::kAccessKey},
          {"AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey}};
}

// A run against a fresh s3rver bucket, as the S3 tests start it: an empty scratch folder,
// table t, and the arguments and environment of `walden run`.
struct S3Run {
  std::unique_ptr<S3Server> server;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env = S3Credentials();
};

std::optional<S3Run> RunTest::StartS3Run() {
  std::filesystem::remove_all(dir());
  auto server = S3Server::Start("walden-run");
  EXPECT_TRUE(server) << server.error().message;
  if (!server) return std::nullopt;
  Exec("CREATE TABLE t (id bigint PRIMARY KEY, v text)");
  S3Run run{.server = std::move(*server)};
  run.args = S3RunArgs(AdminConninfo(), dir(), run.server->endpoint());
  return run;
}

// The archive the runs above write, read directly.
std::unique_ptr<store::S3Store> RunArchive(const std::string& endpoint) {
  auto opened = store::S3Store::Open({.bucket = "walden-run",
                                      .prefix = "a",
                                      .endpoint = endpoint,
                                      .path_style = true,
                                      .access_key = S3Server::kAccessKey,
                                      .secret_key = S3Server::kSecretKey});
  EXPECT_TRUE(opened) << opened.error().message;
  return opened ? std::move(*opened) : nullptr;
}

int64_t RssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoll(line.substr(6));
  }
  return -1;
}

TEST_F(RunTest, KillNineAnywhereLosesAndDuplicatesNothing) {
  std::filesystem::remove_all(dir());
  KillNineAnywhere([this](const std::string& flush) { return RunArgs(flush); }, {}, "run_slot",
                   nullptr);
}

// The same against S3: segments are streamed from disk, so a kill can cut an upload short.
TEST_F(RunTest, KillNineAnywhereWithAnS3ArchiveLosesAndDuplicatesNothing) {
  std::filesystem::remove_all(dir());
  auto s3 = S3Server::Start("walden-run");
  ASSERT_TRUE(s3) << s3.error().message;
  const std::string endpoint = (*s3)->endpoint();
  auto archive = RunArchive(endpoint);
  ASSERT_TRUE(archive);
  KillNineAnywhere(
      [&](const std::string& flush) {
        std::vector<std::string> args = S3RunArgs(AdminConninfo(), dir(), endpoint);
        *(std::find(args.begin(), args.end(), "--archive-flush-interval") + 1) = flush;
        return args;
      },
      S3Credentials(), "s3_slot", archive.get());
}

// S3 goes away for a while (30 s; WALDEN_S3_OUTAGE_SECONDS): walden keeps capturing into
// its spool, stops confirming, keeps memory bounded, and catches up with nothing lost.
TEST_F(RunTest, S3OutageIsRiddenOutWithNothingLost) {
  auto s3 = StartS3Run();
  ASSERT_TRUE(s3);
  WaldenProcess run(s3->args, s3->env);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> inserted{0};
  std::thread workload([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    while (!stop) {
      const int64_t id = inserted + 1;
      ASSERT_TRUE(conn->Exec("INSERT INTO t VALUES (" + std::to_string(id) + ", 'x')"));
      inserted = id;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::this_thread::sleep_for(2s);
  s3->server->Stop();
  const char* env_seconds = std::getenv("WALDEN_S3_OUTAGE_SECONDS");
  const int outage = env_seconds ? std::atoi(env_seconds) : 30;
  std::this_thread::sleep_for(std::chrono::seconds(outage / 3));
  const auto confirmed = [&] {
    return Rows(
               "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = "
               "'s3_slot'")[0][0]
        .value_or("");
  };
  const std::string held = confirmed();
  std::this_thread::sleep_for(std::chrono::seconds(outage - outage / 3));
  EXPECT_EQ(confirmed(), held) << "confirmed while the archive was unreachable\n" << run.Stderr();
  EXPECT_LT(RssKb(run.process().pid()), 256 * 1024);
  ASSERT_TRUE(s3->server->Restart());
  std::this_thread::sleep_for(2s);
  stop = true;
  workload.join();
  ASSERT_TRUE(WaitForCaughtUp("s3_slot")) << run.Stderr();
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(60s), 0) << run.Stderr();
  EXPECT_THAT(run.Stderr(),
              ::testing::ContainsRegex("archive flush: cannot .* after [0-9]+ attempts: .*; will "
                                       "retry"));
  auto archive = RunArchive(s3->server->endpoint());
  ASSERT_TRUE(archive);
  const auto counts = ArchiveRows(
      "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM changes", archive.get());
  EXPECT_EQ(counts,
            (std::vector<Row>{{std::to_string(inserted.load()), std::to_string(inserted.load()),
                               "1", std::to_string(inserted.load())}}));
  DropSlot("s3_slot");
}

// A stop while the store is unreachable does not wait for it: exit 0 within 2 s, nothing
// unarchived is confirmed, and the next run archives it once.
TEST_F(RunTest, SigtermWhileTheStoreIsDownExitsAtOnceAndTheNextRunArchivesTheRest) {
  auto s3 = StartS3Run();
  ASSERT_TRUE(s3);
  {
    WaldenProcess run(s3->args, s3->env);
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    Exec("INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g");
    ASSERT_TRUE(WaitForCaughtUp("s3_slot")) << run.Stderr();
    s3->server->Stop();
    Exec("INSERT INTO t SELECT g, 'b' FROM generate_series(101, 200) g");
    ASSERT_TRUE(run.WaitForLog("S3 ", 30s)) << run.Stderr();
    const auto asked = std::chrono::steady_clock::now();
    run.process().Signal(SIGTERM);
    EXPECT_EQ(run.Wait(10s), 0) << run.Stderr();
    EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s) << run.Stderr();
    EXPECT_THAT(run.Stderr(),
                ::testing::HasSubstr("run: the archive could not be flushed before stopping"));
  }
  ASSERT_TRUE(s3->server->Restart());
  WaldenProcess again(s3->args, s3->env);
  ASSERT_TRUE(again.WaitForLog("run: streaming slot", 30s)) << again.Stderr();
  ASSERT_TRUE(WaitForCaughtUp("s3_slot")) << again.Stderr();
  again.process().Signal(SIGTERM);
  ASSERT_EQ(again.Wait(30s), 0) << again.Stderr();
  auto archive = RunArchive(s3->server->endpoint());
  ASSERT_TRUE(archive);
  EXPECT_EQ(ArchiveRows("SELECT count(*), count(DISTINCT id) FROM changes", archive.get()),
            (std::vector<Row>{{"200", "200"}}));
  DropSlot("s3_slot");
}

// s3rver shows an object while its PUT is still arriving, so a kill -9 during a manifest
// commit's upload leaves the start of that commit (found by the kill test above): walden
// starts anyway, writes the commit again and keeps every change once.
TEST_F(RunTest, AnS3CommitCutShortByACrashIsWrittenAgain) {
  auto s3 = StartS3Run();
  ASSERT_TRUE(s3);
  {
    WaldenProcess run(s3->args, s3->env);
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    Exec("INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g");
    ASSERT_TRUE(WaitForCaughtUp("s3_slot")) << run.Stderr();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  }
  auto archive = RunArchive(s3->server->endpoint());
  ASSERT_TRUE(archive);
  const auto commits = archive->List("_walden/commits/");
  ASSERT_TRUE(commits && !commits->empty());
  const std::string next = archive::Manifest::CommitKey(commits->size() + 1);
  ASSERT_TRUE(archive->Put(next, R"({"sequence": 9, "created_at": 17)"));
  WaldenProcess again(s3->args, s3->env);
  ASSERT_TRUE(again.WaitForLog("run: streaming slot", 30s)) << again.Stderr();
  EXPECT_THAT(again.Stderr(), ::testing::HasSubstr("archive: manifest commit " + next +
                                                   " holds only the start of a commit"));
  Exec("INSERT INTO t SELECT g, 'b' FROM generate_series(101, 200) g");
  ASSERT_TRUE(WaitForCaughtUp("s3_slot")) << again.Stderr();
  again.process().Signal(SIGTERM);
  ASSERT_EQ(again.Wait(30s), 0) << again.Stderr();
  EXPECT_EQ(ArchiveRows("SELECT count(*), count(DISTINCT id) FROM changes", archive.get()),
            (std::vector<Row>{{"200", "200"}}));
  auto written = archive::Manifest(*archive).Load();
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(written->cut_short, "");
  EXPECT_GT(written->last_sequence, commits->size());
  DropSlot("s3_slot");
}

TEST_F(RunTest, DdlInsideATransactionKeepsEveryChange) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY, a int2)");
  WaldenProcess run(RunArgs("100ms"));
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec(
      "BEGIN; INSERT INTO t VALUES (1, 1); ALTER TABLE t ALTER COLUMN a TYPE int8, ADD COLUMN "
      "b text; INSERT INTO t VALUES (2, 40000, 'x'); COMMIT");
  Exec("INSERT INTO t VALUES (3, 5, 'y')");
  ASSERT_TRUE(WaitForCaughtUp("run_slot"));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  EXPECT_EQ(ArchiveRows("SELECT id::VARCHAR, a::VARCHAR, b FROM changes ORDER BY _walden_lsn, "
                        "_walden_seq"),
            (std::vector<Row>{{"1", "1", std::nullopt}, {"2", "40000", "x"}, {"3", "5", "y"}}));
  DropSlot("run_slot");
}

// A 1 MB TOAST column updated through an unrelated column: the archive row holds the full
// value, found in the archive's history or in the spool.
TEST_F(RunTest, UnchangedToastValuesAreFilledExactly) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE docs (id int PRIMARY KEY, note text, body text)");
  const std::string mb = "(SELECT string_agg(md5(i::text || '" + database() +
                         "'), '') FROM generate_series(1, 32768) i)";
  {
    WaldenProcess run(RunArgs("100ms"));
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    Exec("INSERT INTO docs VALUES (1, 'a', " + mb + ")");
    ASSERT_TRUE(WaitForCaughtUp("run_slot"));
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  }
  // A new run has seen nothing of row 1: its body comes from the archived files. Row 2's
  // comes from what this run saw (in the spool, then after a flush).
  WaldenProcess run(RunArgs("100ms"));
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("UPDATE docs SET note = 'from history' WHERE id = 1");
  Exec("BEGIN; INSERT INTO docs VALUES (2, 'b', " + mb +
       " || 'x'); "
       "UPDATE docs SET note = 'from spool' WHERE id = 2; COMMIT");
  ASSERT_TRUE(run.WaitForLog("archive: commit 2 ", 30s)) << run.Stderr();
  Exec("UPDATE docs SET note = 'seen before' WHERE id = 2");
  ASSERT_TRUE(WaitForCaughtUp("run_slot"));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  const auto source = Rows("SELECT id::text, md5(body) FROM docs ORDER BY id");
  EXPECT_EQ(ArchiveRows("SELECT id::VARCHAR, _walden_op, note, length(body)::VARCHAR, md5(body), "
                        "_walden_unchanged::VARCHAR FROM changes ORDER BY _walden_lsn, "
                        "_walden_seq"),
            (std::vector<Row>{{"1", "c", "a", "1048576", source[0][1], "[]"},
                              {"1", "u", "from history", "1048576", source[0][1], "[body]"},
                              {"2", "c", "b", "1048577", source[1][1], "[]"},
                              {"2", "u", "from spool", "1048577", source[1][1], "[body]"},
                              {"2", "u", "seen before", "1048577", source[1][1], "[body]"}}));
  EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr("is unknown")));
  DropSlot("run_slot");
}

// A replication connection that stays up while nothing arrives (here: its walsender frozen
// with SIGSTOP) is found through the canary, ended, and replaced.
TEST_F(RunTest, AStreamThatGoesSilentIsReplaced) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  std::vector<std::string> args = RunArgs("200ms");
  for (const char* extra : {"--canary-interval", "200ms", "--canary-stale-after", "2s"}) {
    args.push_back(extra);
  }
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(WaitForCaughtUp("run_slot"));
  const auto pid = Rows("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'run_slot'");
  ASSERT_EQ(pid.size(), 1u);
  const pid_t walsender = std::stoi(pid[0][0].value());
  ASSERT_EQ(kill(walsender, SIGSTOP), 0);
  Exec("INSERT INTO t SELECT generate_series(2, 100)");
  const bool noticed = run.WaitForLog("but nothing arrived for", 30s);
  kill(walsender, SIGCONT);  // lets the frozen backend see its end
  ASSERT_TRUE(noticed) << run.Stderr();
  ASSERT_TRUE(WaitForCaughtUp("run_slot", 60s)) << run.Stderr();
  EXPECT_THAT(run.Stderr(), ::testing::HasSubstr("replication resumed from"));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  EXPECT_EQ(ArchiveRows("SELECT count(*)::VARCHAR, count(DISTINCT id)::VARCHAR, "
                        "max(id)::VARCHAR FROM changes"),
            (std::vector<Row>{{"100", "100", "100"}}));
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
