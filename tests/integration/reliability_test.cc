// Operations of the reliability issue: stops honoured in every state, refusals that change
// nothing, configuration that cannot be wrong silently, and a stop right after an
// asynchronous commit. Each case failed on the landed main before this file existed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/duck_reader.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

class ReliabilityTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::vector<std::string> RunArgs(const std::string& conninfo, const std::string& slot) {
    return {
        "run",        "--server-listen", "127.0.0.1:0",   "--source", conninfo,
        "--data-dir", dir() + "/data",   "--source-slot", slot,       "--archive-flush-interval",
        "200ms"};
  }
  // SIGTERM, then the exit code if walden exits within `limit`, else -1.
  static int StopWithin(WaldenProcess& run, std::chrono::milliseconds limit) {
    run.process().Signal(SIGTERM);
    return run.Wait(limit);
  }
  // One `walden run` on the test database that streams what `sql` changes, catches up and
  // stops cleanly.
  void RunOnce(const std::string& slot, const std::string& sql) {
    WaldenProcess run(RunArgs(AdminConninfo(), slot));
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    Exec(sql);
    ASSERT_TRUE(WaitForCaughtUp(slot));
    EXPECT_EQ(StopWithin(run, 30s), 0) << run.Stderr();
  }
};

TEST_F(ReliabilityTest, SigtermWhilePostgresIsDownExitsAtOnce) {
  std::filesystem::remove_all(dir());
  auto own = pg::LocalServer::Start({});
  ASSERT_TRUE(own) << own.error().message;
  WaldenProcess run(RunArgs((*own)->AdminConninfo(), "down_slot"));
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  ASSERT_TRUE((*own)->Stop());
  ASSERT_TRUE(run.WaitForLog("reconnecting in", 30s)) << run.Stderr();
  EXPECT_EQ(StopWithin(run, 2s), 0) << run.Stderr();
  EXPECT_THAT(run.Stderr(), HasSubstr("PostgreSQL closed the replication connection (the server "
                                      "shut down or restarted, or the connection was cut)"));
}

TEST_F(ReliabilityTest, SigtermWhileWaitingForABusySlotExitsAtOnce) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  WaldenProcess holder({"tail", "--source", AdminConninfo(), "--persistent", "--source-slot",
                        "busy_slot", "--data-dir", dir() + "/tail"});
  ASSERT_TRUE(holder.WaitForLog("tail: streaming from slot", 30s)) << holder.Stderr();
  WaldenProcess run(RunArgs(AdminConninfo(), "busy_slot"));
  ASSERT_TRUE(run.WaitForLog("is in use by PID", 30s)) << run.Stderr();
  EXPECT_EQ(StopWithin(run, 2s), 0) << run.Stderr();
  holder.process().Signal(SIGTERM);
  holder.Wait(10s);
  DropSlot("busy_slot");
}

TEST_F(ReliabilityTest, ASnapshotOfATableThatIsNotCapturedIsRefused) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  WaldenProcess run(RunArgs(AdminConninfo(), "snap_slot"));
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  const CommandResult refused =
      RunWalden({"snapshot", "--table", "public.nosuch", "--data-dir", dir() + "/data"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, HasSubstr("walden: public.nosuch is not captured (publication "
                                        "walden)"));
  EXPECT_EQ(StopWithin(run, 30s), 0) << run.Stderr();
  DropSlot("snap_slot");
}

TEST_F(ReliabilityTest, ValuesThatCannotWorkAreConfigErrors) {
  auto check = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"config", "check", "--source", "postgresql://w@db/shop"});
    return RunWalden(args);
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--canary-stale-after", "6s"},
       "walden: config: canary.stale_after = \"6s\" (flag --canary-stale-after): expected at "
       "least twice canary.interval (5s), or every heartbeat would look late\n"},
      {{"--mirror-apply-interval", "1us"},
       "walden: config: mirror.apply_interval = \"1us\" (flag --mirror-apply-interval): "
       "expected at least 10ms\n"},
      {{"--archive-flush-size", "1B"},
       "walden: config: archive.flush_size = \"1B\" (flag --archive-flush-size): expected at "
       "least 1MB\n"},
      {{"--config", "/tmp"},
       "walden: config: /tmp is a directory; pass a TOML file with --config\n"},
  };
  for (const auto& [args, message] : cases) {
    const CommandResult result = check(args);
    EXPECT_EQ(result.exit_code, 2) << args[0];
    EXPECT_EQ(result.output, message) << args[0];
  }
  const CommandResult empty = RunWalden({"status", "--data-dir", ""});
  EXPECT_EQ(empty.exit_code, 2) << empty.output;
  EXPECT_THAT(empty.output, HasSubstr("data_dir"));
}

TEST_F(ReliabilityTest, ReplicaWalLevelIsRefusedBeforeAnythingIsCreated) {
  auto replica = pg::LocalServer::Start({.settings = {{"wal_level", "replica"}}});
  ASSERT_TRUE(replica) << replica.error().message;
  auto conn = pg::Connection::Open((*replica)->AdminConninfo());
  ASSERT_TRUE(conn->Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  std::filesystem::remove_all(dir());
  const CommandResult run = RunWalden(RunArgs((*replica)->AdminConninfo(), "replica_slot"));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("wal_level is replica; logical decoding needs logical: "
                                    "ALTER SYSTEM SET wal_level = logical; then restart "
                                    "PostgreSQL (`walden doctor` checks everything walden needs)"));
  auto publications = conn->QueryValue("SELECT count(*) FROM pg_publication");
  ASSERT_TRUE(publications);
  EXPECT_EQ(*publications, "0");
}

// With synchronous_commit = off a commit returns before its WAL record is written; a stop
// right after it must still wait for that record.
TEST_F(ReliabilityTest, StopRightAfterAnAsynchronousCommitKeepsIt) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  auto writer = pg::Connection::Open(AdminConninfo());
  ASSERT_TRUE(writer->Exec("SET synchronous_commit = off"));
  for (int round = 1; round <= 5; ++round) {
    WaldenProcess run(RunArgs(AdminConninfo(), "async_slot"));
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    ASSERT_TRUE(writer->Exec("INSERT INTO t SELECT " + std::to_string(round * 1000) +
                             " + g FROM generate_series(1, 500) g"));
    EXPECT_EQ(StopWithin(run, 30s), 0) << run.Stderr();
    EXPECT_EQ(DuckRows(dir() + "/data/mirror.duckdb", "SELECT count(*) FROM public.t"),
              (std::vector<Row>{{std::to_string(round * 500)}}))
        << "round " << round << "\n"
        << run.Stderr();
  }
  DropSlot("async_slot");
}

// Another reader consumed changes of walden's slot: the next run refuses instead of
// starting past them, and tail refuses the slot of a run on the same data directory.
TEST_F(ReliabilityTest, ASlotAdvancedByAnotherReaderIsRefusedNotSkipped) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  RunOnce("gap_slot", "INSERT INTO t VALUES (1)");
  const CommandResult own_tail =
      RunWalden({"tail", "--source", AdminConninfo(), "--persistent", "--source-slot", "gap_slot",
                 "--data-dir", dir() + "/data", "--limit", "1"});
  EXPECT_EQ(own_tail.exit_code, 2);
  EXPECT_THAT(own_tail.output, HasSubstr("tail --persistent: slot gap_slot belongs to `walden "
                                         "run`"));
  Exec("INSERT INTO t SELECT generate_series(2, 11)");
  // Another reader (here: by hand) moves the slot past the insert.
  Exec("SELECT pg_replication_slot_advance('gap_slot', pg_current_wal_lsn())");
  const CommandResult refused = RunWalden(RunArgs(AdminConninfo(), "gap_slot"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("another reader (walden tail --persistent, a second "
                                        "walden run, pg_replication_slot_advance) consumed the "
                                        "changes in between"));
  EXPECT_THAT(refused.output, HasSubstr("Run `walden resync`"));
  DropSlot("gap_slot");
}

// An older mirror file put back (a backup, an export) would never get the changes the slot
// already confirmed: walden refuses it and names the rebuild, which brings it back.
TEST_F(ReliabilityTest, AnOlderMirrorPutBackIsRefusedAndRebuildRecoversIt) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY, v int)");
  Exec("INSERT INTO t SELECT g, 0 FROM generate_series(1, 25) g");
  const std::string mirror = dir() + "/data/mirror.duckdb";
  RunOnce("old_slot", "SELECT 1");
  std::filesystem::copy_file(mirror, dir() + "/backup.duckdb");
  RunOnce("old_slot", "UPDATE t SET v = v + 1");
  std::filesystem::copy_file(dir() + "/backup.duckdb", mirror,
                             std::filesystem::copy_options::overwrite_existing);
  const CommandResult refused = RunWalden(RunArgs(AdminConninfo(), "old_slot"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("the mirror is an older copy put back. Run `walden "
                                        "mirror rebuild`"));
  const CommandResult rebuilt = RunWalden({"mirror", "rebuild", "--data-dir", dir() + "/data"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  WaldenProcess run(RunArgs(AdminConninfo(), "old_slot"));
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  EXPECT_EQ(StopWithin(run, 30s), 0) << run.Stderr();
  EXPECT_EQ(DuckRows(mirror, "SELECT count(*), sum(v) FROM public.t"),
            (std::vector<Row>{{"25", "25"}}));
  DropSlot("old_slot");
}

// A lost commit file leaves data files no commit names: they used to be deleted as "an
// interrupted flush" and walden went on with a hole in the history. Now they are kept
// aside, and since they hold changes walden confirmed, walden refuses to start.
TEST_F(ReliabilityTest, ALostCommitIsQuarantinedAndRefusedNotDeleted) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  const std::string archive = dir() + "/data/archive";
  RunOnce("lost_slot", "INSERT INTO t SELECT generate_series(1, 10)");
  std::vector<std::filesystem::path> commits;
  for (const auto& entry : std::filesystem::directory_iterator(archive + "/_walden/commits")) {
    commits.push_back(entry.path());
  }
  std::ranges::sort(commits);
  ASSERT_FALSE(commits.empty());
  std::filesystem::remove(commits.back());
  const CommandResult refused = RunWalden(RunArgs(AdminConninfo(), "lost_slot"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("files no commit names to _walden/quarantine/"));
  EXPECT_THAT(refused.output, HasSubstr("which walden confirmed, but no commit names it: a "
                                        "commit file under _walden/commits/ was lost"));
  size_t kept = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(archive + "/_walden/quarantine")) {
    kept += entry.path().extension() == ".parquet";
  }
  EXPECT_GE(kept, 1u);
  DropSlot("lost_slot");
}

// A damaged mirror file is named, and so is the command that brings it back.
TEST_F(ReliabilityTest, ADamagedMirrorNamesTheRebuild) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  RunOnce("damaged_slot", "INSERT INTO t SELECT generate_series(1, 100)");
  const std::string mirror = dir() + "/data/mirror.duckdb";
  {
    std::fstream file(mirror, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(0);
    file << std::string(4096, 'x');  // the header DuckDB checks first
  }
  const CommandResult refused = RunWalden(RunArgs(AdminConninfo(), "damaged_slot"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("move it away and run `walden mirror rebuild`"));
  DropSlot("damaged_slot");
}

// An unchanged TOAST value is filled from the archived files only after they are checked:
// a damaged file stops walden with the way to recover, instead of copying wrong bytes on.
TEST_F(ReliabilityTest, ADamagedArchiveFileIsNotUsedToFillToastValues) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE docs (id int PRIMARY KEY, note text, body text)");
  RunOnce("fill_slot",
          "INSERT INTO docs SELECT 1, 'a', string_agg(md5(i::text), '') FROM "
          "generate_series(1, 20000) i");
  // The file that holds the value is the large one (the other is the initial load's).
  std::filesystem::path largest;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir() + "/data/archive/tables/public/docs")) {
    if (entry.path().extension() == ".parquet" &&
        (largest.empty() || entry.file_size() > std::filesystem::file_size(largest))) {
      largest = entry.path();
    }
  }
  ASSERT_GT(std::filesystem::file_size(largest), 100000u);
  {
    std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(std::filesystem::file_size(largest) / 2));
    file << "walden";
  }
  WaldenProcess run(RunArgs(AdminConninfo(), "fill_slot"));
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("UPDATE docs SET note = 'b' WHERE id = 1");
  EXPECT_EQ(run.Wait(30s), 1) << run.Stderr();
  EXPECT_THAT(run.Stderr(),
              HasSubstr(" does not match the checksum its commit recorded (its bytes changed "
                        "after it was written); restore it from a backup of the bucket"));
  EXPECT_THAT(run.Stderr(), Not(HasSubstr("archive: commit")));
  DropSlot("fill_slot");
}

// The default data_dir is relative (./walden-data): the contained mirror must still read
// the initial load's segments and the history, and exports must land.
TEST_F(ReliabilityTest, ARelativeDataDirectoryWorksEverywhere) {
  const std::string relative = "walden-rel-" + std::to_string(getpid());
  std::filesystem::remove_all(relative);
  // Relative to the working directory (the source tree when run by hand): gone even when
  // an assertion ends the test early.
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{relative};
  Exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  Exec("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g");
  WaldenProcess run({"run", "--server-listen", "127.0.0.1:0", "--source", AdminConninfo(),
                     "--data-dir", relative, "--source-slot", "rel_slot",
                     "--archive-flush-interval", "200ms"});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
  Exec("UPDATE t SET v = 'w' WHERE id <= 10");
  ASSERT_TRUE(WaitForCaughtUp("rel_slot"));
  ASSERT_TRUE(run.WaitForLog("archive: commit", 30s)) << run.Stderr();
  auto walden = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--data-dir", relative});
    return RunWalden(args);
  };
  const CommandResult rows =
      walden({"query", "SELECT count(*) AS n FROM public.t", "--format", "csv"});
  EXPECT_EQ(rows.output, "n\n1000\n");
  const CommandResult history =
      walden({"query", "SELECT count(*) AS u FROM history.public.t WHERE _walden_op = 'u'",
              "--format", "csv", "--allow-full-scan"});
  EXPECT_EQ(history.output, "u\n10\n");
  const CommandResult exported = walden({"mirror", "export", "copy.duckdb"});
  EXPECT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_TRUE(std::filesystem::exists(relative + "/exports/copy.duckdb"));
  EXPECT_EQ(StopWithin(run, 30s), 0) << run.Stderr();
  DropSlot("rel_slot");
}

}  // namespace
}  // namespace walden::testing
