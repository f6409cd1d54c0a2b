// `walden verify` against a running walden: every chunk (and the archive) equal while a
// workload keeps writing (keyed and keyless tables); a mirror edited behind walden's back,
// and changes taken out of the archive, found key by key, reported by /readyz and
// /metrics, and made equal again by --repair.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/checksum.h"
#include "duck/duckdb.h"
#include "pg/connection.h"
#include "pipeline/http_api.h"
#include "server/http_server.h"
#include "tests/integration/mirror_fixture.h"

namespace walden::testing {
namespace {

using ::testing::HasSubstr;

class VerifyTest : public MirrorTest {
 protected:
  CommandResult Walden(std::vector<std::string> args) {
    args.insert(args.end(), {"--data-dir", dir() + "/data"});
    return RunWalden(args);
  }
  std::string Address() { return *pipeline::RunningAddress(dir() + "/data"); }
  std::string Metrics() {
    auto metrics = server::Get(Address(), "/metrics");
    return metrics ? metrics->body : metrics.error().message;
  }
  // The metrics once they hold `line` (the run loop publishes its status about once a second).
  std::string MetricsWith(const std::string& line) {
    std::string metrics;
    for (int i = 0; i < 100; ++i) {
      metrics = Metrics();
      if (metrics.find(line) != std::string::npos) break;
      std::this_thread::sleep_for(50ms);
    }
    return metrics;
  }
  // /readyz once it answers `status`.
  server::Response ReadyWhen(int status) {
    server::Response last;
    for (int i = 0; i < 100; ++i) {
      auto ready = server::Get(Address(), "/readyz");
      if (ready) last = *ready;
      if (ready && ready->status == status) break;
      std::this_thread::sleep_for(100ms);
    }
    return last;
  }
};

// Takes the changes `where` selects out of the local archive: rewrites the Parquet files that
// hold them and the rows, size and checksum their commits record (a write lost without a
// trace that `walden archive verify` could see).
int64_t RemoveArchivedChanges(const std::string& archive, const std::string& where) {
  int64_t removed = 0;
  auto db = duck::Database::Open(":memory:");
  auto conn = duck::Connection::Open(*db);
  for (const auto& entry : std::filesystem::directory_iterator(archive + "/_walden/commits")) {
    std::ifstream in(entry.path());
    nlohmann::json commit = nlohmann::json::parse(in);
    bool changed = false;
    for (nlohmann::json& file : commit["added"]) {
      const std::string path = archive + "/" + file["key"].get<std::string>();
      if (!std::filesystem::exists(path)) continue;
      auto found =
          conn->Query(fmt::format("SELECT count(*) FROM read_parquet('{}') WHERE {}", path, where));
      const int64_t count = found ? duckdb_value_int64(found->get(), 0, 0) : 0;
      if (count == 0) continue;
      EXPECT_TRUE(conn->Execute(
          fmt::format("COPY (SELECT * FROM read_parquet('{0}') WHERE NOT ({1})) TO '{0}.new' "
                      "(FORMAT parquet, COMPRESSION zstd)",
                      path, where)));
      std::filesystem::rename(path + ".new", path);
      file["rows"] = file["rows"].get<int64_t>() - count;
      file["bytes"] = static_cast<int64_t>(std::filesystem::file_size(path));
      file["sha256"] = *Sha256OfFile(path);
      // The rewritten file's row groups are others: a record without them (as older walden
      // wrote) has the file read whole.
      file.erase("row_groups");
      file.erase("footer_sha256");
      removed += count;
      changed = true;
    }
    if (changed) std::ofstream(entry.path()) << commit.dump(1);
  }
  return removed;
}

TEST_F(VerifyTest, EveryChunkIsEqualWhileAWorkloadKeepsWriting) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE bank (id int PRIMARY KEY, balance bigint NOT NULL, note text)");
  Exec("INSERT INTO bank SELECT g, 1000, 'n' || g FROM generate_series(1, 45000) g");
  Exec("CREATE TABLE log (at int, what text)");
  Exec("ALTER TABLE log REPLICA IDENTITY FULL");
  Exec("INSERT INTO log SELECT g, 'w' || g FROM generate_series(1, 500) g");
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
  ASSERT_TRUE(WaitForCaughtUp("mirror_slot"));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    ASSERT_TRUE(conn) << conn.error().message;
    std::mt19937 random(Seed());
    for (int n = 0; !stop; ++n) {
      const int from = 1 + static_cast<int>(random() % 45000),
                to = 1 + static_cast<int>(random() % 45000);
      ASSERT_TRUE(conn->Exec(fmt::format(
          "BEGIN; UPDATE bank SET balance = balance - 1 WHERE id = {0}; UPDATE bank SET balance "
          "= balance + 1, note = 'moved {2}' WHERE id = {1}; INSERT INTO bank VALUES ({3}, 0, "
          "NULL); DELETE FROM bank WHERE id = {3} - 7; COMMIT",
          from, to, n, 100000 + n)));
      std::this_thread::sleep_for(5ms);  // about 150 transactions a second
      if (n % 50 == 0) {
        ASSERT_TRUE(conn->Exec("UPDATE log SET what = what || '+' WHERE at = 7"));
      }
    }
  });
  const CommandResult verified = Walden({"verify", "--all"});
  const CommandResult archived = Walden({"verify", "--archive", "--all"});
  stop = true;
  writer.join();
  EXPECT_EQ(archived.exit_code, 0) << archived.output;
  EXPECT_THAT(archived.output,
              ::testing::ContainsRegex(R"(public\.bank \(archive\): 450[0-7][0-9] rows, equal)"));
  EXPECT_THAT(archived.output, HasSubstr("public.log (archive): 500 rows, equal\n"));
  EXPECT_THAT(archived.output,
              ::testing::EndsWith("verify (archive): 2 chunks equal, 0 different, 0 skipped\n"));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_THAT(verified.output,
              HasSubstr("public.bank chunk 1 (id=1 .. id=1000): 1000 rows, equal"));
  EXPECT_THAT(verified.output,
              HasSubstr("public.bank chunk 45 (id=44001 .. id=45000): 1000 rows, equal"));
  // The rows the workload inserted last (ids from 100000, 7 of them alive at any time).
  EXPECT_THAT(verified.output,
              ::testing::ContainsRegex(
                  R"(public\.bank chunk 46 \(id=1[0-9]+ \.\. id=1[0-9]+\): [1-7] rows, equal)"));
  EXPECT_THAT(verified.output, HasSubstr("public.bank rows only in the mirror: "));
  EXPECT_THAT(verified.output, HasSubstr("public.log chunk 1: 500 rows, equal"));
  EXPECT_THAT(verified.output,
              ::testing::EndsWith("verify: 48 chunks equal, 0 different, 0 skipped\n"));
  EXPECT_THAT(verified.output, ::testing::Not(HasSubstr("different (")));
  const std::string metrics = MetricsWith("walden_verify_chunks_total{result=\"equal\"} 50\n");
  EXPECT_THAT(metrics, HasSubstr("walden_verify_chunks_total{result=\"equal\"} 50\n"));
  EXPECT_THAT(metrics, HasSubstr("walden_verify_different_tables 0\n"));
  EXPECT_THAT(metrics, HasSubstr("walden_verify_last_success_timestamp_seconds "));
  CatchUpAndStop(run);
  ExpectMirrorEqualsSource({{"public", "bank"}, {"public", "log"}});
  DropSlot("mirror_slot");
}

TEST_F(VerifyTest, AMirrorEditedBehindWaldensBackIsFoundByKeyAndRepaired) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE \"Odd Name\" (id int PRIMARY KEY, v text)");
  Exec("INSERT INTO \"Odd Name\" SELECT g, 'v' || g FROM generate_series(1, 1000) g");
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
    CatchUpAndStop(run);
  }
  {
    auto db = duck::Database::Open(mirror());
    ASSERT_TRUE(db) << db.error().message;
    auto conn = duck::Connection::Open(*db);
    ASSERT_TRUE(conn->Execute(
        "UPDATE public.\"Odd Name\" SET v = 'tampered' WHERE id = 17; DELETE FROM "
        "public.\"Odd Name\" WHERE id = 18; INSERT INTO public.\"Odd Name\" VALUES (5000, "
        "'ghost')"));
  }
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
  Exec("UPDATE \"Odd Name\" SET v = 'changed' WHERE id = 500");  // the stream goes on
  const CommandResult found = Walden({"verify", "--table", "public.\"Odd Name\""});
  EXPECT_EQ(found.exit_code, 1) << found.output;
  EXPECT_THAT(found.output,
              HasSubstr("public.\"Odd Name\" chunk 1 (id=1 .. id=1000): 1000 rows, different (2 "
                        "rows): id=17 differs; id=18 missing in the mirror\n"));
  EXPECT_THAT(found.output, HasSubstr("public.\"Odd Name\" rows only in the mirror: 1 rows, "
                                      "different (1 rows): id=5000 only in the mirror\n"));
  EXPECT_THAT(found.output,
              HasSubstr("verify: 0 chunks equal, 2 different, 0 skipped; different: "
                        "public.\"Odd Name\"; `walden verify --repair` re-snapshots them\n"));
  server::Response ready = ReadyWhen(503);
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body,
            "verify found rows that differ from the source in public.\"Odd Name\"; `walden "
            "verify --repair` re-snapshots them\n");
  EXPECT_THAT(MetricsWith("walden_verify_different_tables 1\n"),
              HasSubstr("walden_verify_chunks_total{result=\"different\"} 2\n"));

  const CommandResult repaired =
      Walden({"verify", "--table", "public.\"Odd Name\"", "--repair", "--json"});
  EXPECT_EQ(repaired.exit_code, 1) << repaired.output;
  // Only the three keys are read again: two rows, and a delete of the one the source lacks.
  EXPECT_THAT(repaired.output,
              ::testing::ContainsRegex(
                  R"re("repair":"job [0-9a-f]+ \(3 keys of public\.\\"Odd Name\\"\)")re"));
  ASSERT_TRUE(run.WaitForLog("snapshot: 3 keys of public.\"Odd Name\" queued (verify repair)", 30s))
      << run.Stderr();
  ASSERT_TRUE(run.WaitForLog("snapshot: public.\"Odd Name\" complete: 2 rows", 120s))
      << run.Stderr();
  const CommandResult again = Walden({"verify", "--table", "public.\"Odd Name\""});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("verify: 2 chunks equal, 0 different, 0 skipped\n"));
  ready = ReadyWhen(200);
  EXPECT_EQ(ready.status, 200) << ready.body << run.Stderr();
  CatchUpAndStop(run);
  ExpectMirrorEqualsSource({{"public", "Odd Name"}});
  DropSlot("mirror_slot");
}

TEST_F(VerifyTest, ChangesTakenOutOfTheArchiveAreFoundByKeyAndRepaired) {
  std::filesystem::remove_all(dir());
  Exec("CREATE TABLE \"Odd Name\" (id int PRIMARY KEY, v text)");
  Exec("INSERT INTO \"Odd Name\" SELECT g, 'v' || g FROM generate_series(1, 1000) g");
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
    Exec("UPDATE \"Odd Name\" SET v = 'updated' WHERE id = 17");
    Exec("DELETE FROM \"Odd Name\" WHERE id = 18");
    Exec("INSERT INTO \"Odd Name\" VALUES (5000, 'new')");
    CatchUpAndStop(run);
  }
  ASSERT_EQ(RemoveArchivedChanges(dir() + "/data/archive",
                                  "(_walden_op = 'u' AND id = 17) OR (_walden_op = 'd' AND id = "
                                  "18) OR (_walden_op = 'c' AND id = 5000)"),
            3);
  const CommandResult checked = Walden({"archive", "verify"});
  EXPECT_EQ(checked.exit_code, 0) << checked.output;  // its files match their commits
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
  Exec("UPDATE \"Odd Name\" SET v = 'changed' WHERE id = 500");  // the stream goes on
  const CommandResult mirror = Walden({"verify", "--all"});
  EXPECT_EQ(mirror.exit_code, 0) << mirror.output;  // the mirror never lost them
  const CommandResult found = Walden({"verify", "--archive", "--all"});
  EXPECT_EQ(found.exit_code, 1) << found.output;
  EXPECT_THAT(found.output,
              HasSubstr("public.\"Odd Name\" (archive): 1000 rows, different (3 rows): id=17 "
                        "differs; id=18 only in the archive; id=5000 missing in the archive\n"));
  EXPECT_THAT(found.output,
              HasSubstr("verify (archive): 0 chunks equal, 1 different, 0 skipped; different: "
                        "public.\"Odd Name\"; `walden verify --repair` re-snapshots them\n"));
  server::Response ready = ReadyWhen(503);
  const CommandResult status = Walden({"status"});
  EXPECT_THAT(status.output,
              HasSubstr("verify: 2 chunks equal, 1 different since start; last clean "
                        "verify "));
  EXPECT_THAT(status.output,
              HasSubstr("; DIFFERENT: public.\"Odd Name\" (archive) (`walden verify --repair`)\n"));
  EXPECT_EQ(ready.body,
            "verify found rows that differ from the source in public.\"Odd Name\" (archive); "
            "`walden verify --repair` re-snapshots them\n");

  const CommandResult repaired = Walden({"verify", "--archive", "--all", "--repair", "--json"});
  EXPECT_EQ(repaired.exit_code, 1) << repaired.output;
  EXPECT_THAT(repaired.output, HasSubstr(R"("target":"archive")"));
  EXPECT_THAT(repaired.output,
              ::testing::ContainsRegex(
                  R"re("repair":"job [0-9a-f]+ \(3 keys of public\.\\"Odd Name\\"\)")re"));
  // kill -9 as soon as the repair is queued: it is in the job file and goes on after a restart
  // (or was delivered already), exactly once either way.
  run.process().Signal(SIGKILL);
  EXPECT_EQ(run.Wait(30s), 128 + SIGKILL);
  WaldenProcess restarted(RunArgs());
  ASSERT_TRUE(restarted.WaitForLog("run: streaming slot", 60s)) << restarted.Stderr();
  CommandResult again;
  for (int attempt = 0; attempt < 30; ++attempt) {
    again = Walden({"verify", "--archive", "--all"});
    if (again.exit_code == 0) break;
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ(again.exit_code, 0) << again.output << restarted.Stderr();
  EXPECT_THAT(again.output, HasSubstr("public.\"Odd Name\" (archive): 1000 rows, equal\n"));
  const CommandResult mirror_again = Walden({"verify", "--all"});
  EXPECT_EQ(mirror_again.exit_code, 0) << mirror_again.output;
  EXPECT_EQ(ReadyWhen(200).status, 200);
  CatchUpAndStop(restarted);
  ExpectMirrorEqualsSource({{"public", "Odd Name"}});
  DropSlot("mirror_slot");
}

TEST_F(VerifyTest, NeedsARunningWaldenAndTablesItMirrors) {
  std::filesystem::remove_all(dir());
  const CommandResult stopped = Walden({"verify", "--all"});
  EXPECT_EQ(stopped.exit_code, 2);
  EXPECT_THAT(stopped.output, HasSubstr("walden is not running with data_dir "));
  EXPECT_THAT(stopped.output, HasSubstr("start `walden run` first"));
  const CommandResult nothing = Walden({"verify"});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_THAT(nothing.output,
              HasSubstr("name the tables to verify (--table schema.table, repeatable) or --all"));
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  Exec("INSERT INTO t SELECT generate_series(1, 10)");
  std::vector<std::string> args = RunArgs();
  // and a schedule, of the mirror and the archive
  args.insert(args.end(), {"--verify-interval", "1s", "--verify-archive", "true"});
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
  ASSERT_TRUE(
      run.WaitForLog("verify: scheduled verify done (mirror and archive): every table equal", 60s))
      << run.Stderr();
  EXPECT_THAT(MetricsWith("walden_verify_last_success_timestamp_seconds "),
              HasSubstr("walden_verify_last_success_timestamp_seconds "));
  const CommandResult unknown = Walden({"verify", "--table", "public.nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("public.nope is not in the mirror"));
  // SIGTERM in the middle of a verify (it paces itself over 30 chunks): walden still ends at
  // once, and the verify reports that it stopped.
  Exec("CREATE TABLE big (id int PRIMARY KEY)");
  Exec("INSERT INTO big SELECT generate_series(1, 30000)");
  ASSERT_TRUE(WaitForCaughtUp("mirror_slot"));
  WaldenProcess verifying({"verify", "--table", "public.big", "--data-dir", dir() + "/data"});
  ASSERT_TRUE(run.WaitForLog("verify: started", 30s)) << run.Stderr();
  std::this_thread::sleep_for(500ms);
  const auto stopping = std::chrono::steady_clock::now();
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << run.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 3s);
  EXPECT_EQ(verifying.Wait(30s), 1);
  DropSlot("mirror_slot");
}

}  // namespace
}  // namespace walden::testing
