// Snapshots against real PostgreSQL through `walden run`: the initial load (exported
// snapshot, parallel chunks, ctid ranges for a table without key) and online snapshots
// (watermarks) while another connection keeps writing; kill -9 in the middle of both;
// `walden resync` after the slot was dropped. Every test ends with the mirror equal to the
// source row for row, and the archive's snapshot rows free of duplicates.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support/duck_reader.h"
#include "tests/support/mirror_compare.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

int64_t BigRows() {
  const char* env = std::getenv("SNAPSHOT_TEST_ROWS");
  return env ? std::atoll(env) : 1000000;
}

// Inserts, updates (some changing the key) and deletes on `big`, inserts and updates on
// `loose`, in transactions of 1–5 statements, until stopped.
class Writer {
 public:
  Writer(const std::string& conninfo, int64_t rows) : rows_(rows) {
    thread_ = std::thread([this, conninfo] { Loop(conninfo); });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t transactions() const { return transactions_; }
  std::string error() const { return error_; }

 private:
  void Loop(const std::string& conninfo) {
    auto conn = pg::Connection::Open(conninfo);
    if (!conn) {
      error_ = conn.error().message;
      return;
    }
    std::mt19937_64 random(7);
    // New keys continue after every key so far (an earlier writer may have inserted some).
    auto max_id = conn->QueryValue("SELECT coalesce(max(id), 0) FROM big");
    if (!max_id) {
      error_ = max_id.error().message;
      return;
    }
    int64_t next_id = std::max<int64_t>(rows_, std::stoll(*max_id)) + 1;
    while (!stop_) {
      std::string sql = "BEGIN;";
      const int statements = 1 + static_cast<int>(random() % 5);
      for (int i = 0; i < statements; ++i) {
        const int64_t id = 1 + static_cast<int64_t>(random() % static_cast<uint64_t>(rows_));
        switch (random() % 6) {
          case 0:
            sql += fmt::format(
                "INSERT INTO big VALUES ({0}, {0} % 100, 'new {0}', {0} * 0.25, now());",
                next_id++);
            break;
          case 1:
          case 2:
            sql += fmt::format(
                "UPDATE big SET amount = amount + 1, note = note || 'u' WHERE id = {};", id);
            break;
          case 3:
            sql += fmt::format("DELETE FROM big WHERE id = {};", id);
            break;
          case 4:
            sql += fmt::format("UPDATE big SET id = {} WHERE id = {};", next_id++, id);
            break;
          default:
            // Rows of a table without key are matched one at a time: few updates.
            sql += fmt::format("INSERT INTO loose VALUES ({0} % 5000, 'w{0}');", id);
            if (random() % 20 == 0) {
              sql += fmt::format("UPDATE loose SET b = b || '!' WHERE b = 'w{}';", id);
            }
        }
      }
      sql += "COMMIT;";
      if (auto done = conn->Exec(sql); !done) {
        error_ = done.error().message;
        return;
      }
      ++transactions_;
      // About 200 transactions/s: steady writing a debug build keeps up with.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  int64_t rows_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> transactions_{0};
  std::string error_;
  std::thread thread_;
};

class SnapshotTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::string mirror() const { return dir() + "/data/mirror.duckdb"; }
  std::vector<std::string> RunArgs(const std::string& command = "run") {
    return {command,
            "--server-listen",
            "127.0.0.1:0",
            "--source",
            AdminConninfo(),
            "--data-dir",
            dir() + "/data",
            "--archive-flush-interval",
            "1s",
            "--source-slot",
            "snap_slot",
            "--source-status-interval",
            "200ms",
            "--snapshot-workers",
            "2",
            "--snapshot-chunk-rows",
            chunk_rows_};
  }
  void CreateTables(int64_t rows) {
    std::filesystem::remove_all(dir());
    Exec(fmt::format(
        "CREATE TABLE big (id bigint PRIMARY KEY, grp int, note text, amount numeric(14,2), "
        "at timestamptz);"
        "INSERT INTO big SELECT g, g % 100, 'row ' || g, g * 1.5, now() FROM "
        "generate_series(1, {}) g;"
        "CREATE TABLE loose (a int, b text); ALTER TABLE loose REPLICA IDENTITY FULL;"
        "INSERT INTO loose SELECT g % 5000, 'l' || g FROM generate_series(1, 30000) g;"
        "ANALYZE big; ANALYZE loose;",
        rows));
  }
  void ExpectEqual() {
    for (const char* table : {"big", "loose"}) {
      EXPECT_EQ(MirrorDiff(AdminConninfo(), mirror(), {"public", table}), "") << table;
    }
  }
  // Every key appears once among the archive's snapshot rows of `big`.
  void ExpectNoDuplicateSnapshotRows() {
    const auto counts = DuckRows(
        mirror(), "SELECT count(*) - count(DISTINCT id) FROM read_parquet('" + dir() +
                      "/data/archive/tables/public/big/*/*.parquet') WHERE _walden_op = 'r'");
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0][0], "0");
  }
  // The archive alone (the `r` image, then every later change) rebuilds the same mirror.
  void ExpectRebuildEqual() {
    std::filesystem::remove(mirror());
    std::filesystem::remove(mirror() + ".wal");
    const CommandResult rebuilt = RunWalden({"mirror", "rebuild", "--data-dir", dir() + "/data"});
    ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
    ExpectEqual();
  }
  void StopCaughtUp(WaldenProcess& run, Writer& writer) {
    writer.Stop();
    ASSERT_EQ(writer.error(), "");
    ASSERT_TRUE(WaitForCaughtUp("snap_slot", 120s)) << run.Stderr();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(60s), 0) << run.Stderr();
  }
  // Chunks the job file says were delivered so far.
  int Delivered() {
    std::ifstream file(dir() + "/data/snapshot.json");
    const auto job = nlohmann::json::parse(file, nullptr, false);
    int delivered = 0;
    if (job.is_discarded()) return 0;
    for (const auto& table : job["tables"]) {
      for (const auto& chunk : table["chunks"]) delivered += chunk["delivered"] != 0 ? 1 : 0;
    }
    return delivered;
  }
  void KillAfterChunks(WaldenProcess& run, int chunks) {
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    while (Delivered() < chunks && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_GE(Delivered(), chunks) << run.Stderr();
    run.process().Signal(SIGKILL);
    run.Wait(30s);
  }
  std::string chunk_rows_ = "20000";
};

TEST_F(SnapshotTest, InitialLoadUnderConcurrentWritesIsConsistent) {
  const int64_t rows = BigRows();
  CreateTables(rows);
  Writer writer(AdminConninfo(), rows);
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("snapshot: initial load done", 600s)) << run.Stderr();
  // big by key ranges, loose (no key) by ctid pages: both in several chunks.
  EXPECT_THAT(run.Stderr(), ::testing::ContainsRegex("public.big: [0-9]+ chunks by key"));
  EXPECT_THAT(run.Stderr(), ::testing::ContainsRegex("public.loose: [2-9] chunks by ctid"));
  while (writer.transactions() < 200) std::this_thread::sleep_for(50ms);
  StopCaughtUp(run, writer);
  ExpectEqual();
  ExpectNoDuplicateSnapshotRows();
  ExpectRebuildEqual();
  DropSlot("snap_slot");
}

// The initial load reads chunks of tables with DuckDB-castable types from CSV files (the
// fast path) and everything else as text; both must give exactly the source's values, also
// when the server's own settings print values differently, and a chunk DuckDB cannot read
// exactly (a BC date) is read again as text.
TEST_F(SnapshotTest, InitialLoadReadsEveryTypeExactlyOnEitherPath) {
  chunk_rows_ = "1000";
  std::filesystem::remove_all(dir());
  // walden's sessions set their own; these would change every date, time and interval text.
  Exec(
      "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET DateStyle = ''SQL, DMY''', "
      "current_database()); EXECUTE format('ALTER DATABASE %I SET TimeZone = "
      "''Asia/Kolkata''', current_database()); EXECUTE format('ALTER DATABASE %I SET "
      "IntervalStyle = ''postgres_verbose''', current_database()); END $$");
  Exec(R"(CREATE TYPE mood AS ENUM ('sad', 'happy');
      CREATE TABLE typed (id bigint PRIMARY KEY, b bool, i2 int2, i4 int4, f4 float4, f8 float8,
        n numeric(12,3), t text, vc varchar(5), bp char(3), ba bytea, d date, tm time,
        ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb, m mood, "Select ""x""" text);
      INSERT INTO typed SELECT g, g % 2 = 0, g % 30000, g * 7, g / 3.0, g / 7.0, g / 8.0,
        'text ' || g, left(g::text, 5), 'ab', int8send(g), date '2024-02-29' + g,
        time '00:00:01' + g * interval '1 s', timestamp '2024-01-01' + g * interval '1 min',
        timestamptz '2024-01-01 00:00:00+00' + g * interval '1 s', md5(g::text)::uuid,
        json_build_object('g', g), jsonb_build_object('g', g), 'happy', 'q"' || g
        FROM generate_series(1, 2500) g;
      INSERT INTO typed VALUES (-1, NULL, -32768, -2147483648, 'NaN', '-Infinity', -0.5, '',
        'a,b', 'x', '\x00ff', 'infinity', '24:00:00', '-infinity', '1999-12-31 23:59:59.999999+05',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a":   [1, 2.50]}', '[]', 'sad',
        E'line1\nline2,"q"\\.'),
        (-2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL);
      CREATE TABLE ancient (id int PRIMARY KEY, d date, ts timestamptz);
      INSERT INTO ancient SELECT g, date '2000-01-01' + g,
        timestamptz '2000-01-01 00:00:00+00' + g * interval '1 h' FROM generate_series(1, 3000) g;
      UPDATE ancient SET d = '0044-03-15 BC' WHERE id = 2500;
      CREATE TABLE spans (id int PRIMARY KEY, iv interval, ia int[], ttz timetz);
      INSERT INTO spans SELECT g, g * interval '1 day 1 s', ARRAY[g, NULL], '01:02:03+05:30'
        FROM generate_series(1, 1500) g;
      ANALYZE)");
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("snapshot: initial load done", 120s)) << run.Stderr();
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(60s), 0) << run.Stderr();
  Exec("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET ALL', current_database()); END $$");
  // Only the third chunk of ancient (rows 2001–3000) was read again as text.
  EXPECT_THAT(run.Stderr(),
              ::testing::ContainsRegex("public.ancient chunk 3: reading it again as text: .*BC"));
  EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr("typed chunk")));
  for (const char* table : {"typed", "ancient", "spans"}) {
    EXPECT_EQ(MirrorDiff(AdminConninfo(), mirror(), {"public", table}), "") << table;
  }
  // The archive holds each row once, as an `r` row.
  const auto counts =
      DuckRows(mirror(),
               "SELECT count(*), count(DISTINCT id) FILTER (WHERE _walden_op = 'r') FROM "
               "read_parquet('" +
                   dir() + "/data/archive/tables/public/typed/*/*.parquet')");
  EXPECT_EQ(counts, (std::vector<Row>{{"2502", "2502"}}));
  std::filesystem::remove(mirror());
  std::filesystem::remove(mirror() + ".wal");
  const CommandResult rebuilt = RunWalden({"mirror", "rebuild", "--data-dir", dir() + "/data"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.output;
  for (const char* table : {"typed", "ancient", "spans"}) {
    EXPECT_EQ(MirrorDiff(AdminConninfo(), mirror(), {"public", table}), "") << table;
  }
  Exec("DROP TABLE typed, ancient, spans; DROP TYPE mood");
  DropSlot("snap_slot");
}

TEST_F(SnapshotTest, KillDuringTheInitialLoadResumesWithoutLossOrDuplicates) {
  chunk_rows_ = "10000";
  CreateTables(200000);
  Writer writer(AdminConninfo(), 200000);
  {
    WaldenProcess first(RunArgs());
    KillAfterChunks(first, 6);
  }
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("snapshot: resuming initial load", 60s)) << run.Stderr();
  ASSERT_TRUE(run.WaitForLog("finished", 600s)) << run.Stderr();
  StopCaughtUp(run, writer);
  ExpectEqual();
  ExpectNoDuplicateSnapshotRows();
  ExpectRebuildEqual();
  DropSlot("snap_slot");
}

TEST_F(SnapshotTest, OnlineSnapshotSurvivesKillAndRunsOnRequest) {
  chunk_rows_ = "10000";
  CreateTables(200000);
  Writer writer(AdminConninfo(), 200000);
  std::vector<std::string> args = RunArgs();
  args.insert(args.end(), {"--snapshot-mode", "online"});
  {
    WaldenProcess first(args);
    ASSERT_TRUE(first.WaitForLog("queued (first start)", 60s)) << first.Stderr();
    KillAfterChunks(first, 5);
  }
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("snapshot: resuming first start", 60s)) << run.Stderr();
  ASSERT_TRUE(run.WaitForLog("finished", 600s)) << run.Stderr();
  EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr("snapshot: public.big queued")));
  // Asked for while streaming: `walden snapshot` follows it to the end.
  const CommandResult asked =
      RunWalden({"snapshot", "--table", "public.big", "--data-dir", dir() + "/data"});
  ASSERT_EQ(asked.exit_code, 0) << asked.output << run.Stderr();
  EXPECT_THAT(asked.output, ::testing::ContainsRegex("snapshot [0-9a-f]+ done"));
  StopCaughtUp(run, writer);
  ExpectEqual();
  if (HasFailure()) std::cerr << asked.output << run.Stderr();
  ExpectRebuildEqual();
  DropSlot("snap_slot");
}

TEST_F(SnapshotTest, ResyncAfterTheSlotWasDroppedMakesTheMirrorEqualAgain) {
  chunk_rows_ = "5000";  // several chunks: the refill spans many transactions
  CreateTables(50000);
  {
    Writer writer(AdminConninfo(), 50000);
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("snapshot: initial load done", 120s)) << run.Stderr();
    StopCaughtUp(run, writer);
  }
  // The slot is lost; the source keeps changing (deletes walden will never see).
  DropSlot("snap_slot");
  Exec(
      "DELETE FROM big WHERE id % 7 = 0; UPDATE big SET note = 'while away' WHERE id % 5 = 0;"
      "INSERT INTO loose VALUES (-1, 'while away');");
  const CommandResult refused = RunWalden(RunArgs());
  EXPECT_NE(refused.exit_code, 0);
  Writer writer(AdminConninfo(), 50000);
  WaldenProcess resync(RunArgs("resync"));
  // The old copy stays queryable while the new one fills: never (nearly) empty.
  ASSERT_TRUE(resync.WaitForLog("run: serving", 60s)) << resync.Stderr();
  int64_t fewest = std::numeric_limits<int64_t>::max();
  int samples = 0;
  while (resync.Stderr().find("finished") == std::string::npos && resync.process().Running()) {
    const CommandResult count = RunWalden({"query", "--format", "csv", "--data-dir",
                                           dir() + "/data", "SELECT count(*) FROM public.big"});
    if (count.exit_code == 0 && count.output.find('\n') != std::string::npos) {
      fewest = std::min<int64_t>(
          fewest, std::atoll(count.output.substr(count.output.find('\n') + 1).c_str()));
      ++samples;
    }
  }
  ASSERT_TRUE(resync.WaitForLog("finished", 300s)) << resync.Stderr();
  EXPECT_GT(samples, 0);
  EXPECT_GE(fewest, 40000) << resync.Stderr();  // about 43,000 rows are left after the deletes
  EXPECT_THAT(resync.Stderr(),
              ::testing::HasSubstr("public.big: the refilled copy replaced the old one"));
  StopCaughtUp(resync, writer);
  ExpectEqual();
  DropSlot("snap_slot");
}

}  // namespace
}  // namespace walden::testing
