// History queries as users run them (design §13): through `walden query`, offline and through
// a running walden's HTTP API. A bounded query reads only the files of its window and says
// what it reads first; an unbounded scan is refused with the preview and the flag.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "pg/connection.h"
#include "pipeline/http_api.h"
#include "server/http_server.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class HistoryQueryTest : public PgTest {
 protected:
  // A local archive, or an S3 one on s3rver once UseS3 was called.
  std::vector<std::string> Data() {
    if (s3_) {
      return {"--data-dir",
              ScratchDir() + "/data",
              "--archive-url",
              "s3://walden-history/a",
              "--archive-endpoint",
              proxy_ ? "http://127.0.0.1:" + std::to_string(proxy_->port()) : s3_->endpoint()};
    }
    return {"--data-dir", ScratchDir() + "/data", "--archive-url",
            "file://" + ScratchDir() + "/archive"};
  }
  void UseS3() {
    auto s3 = S3Server::Start("walden-history");
    ASSERT_TRUE(s3) << s3.error().message;
    s3_ = std::move(*s3);
    setenv("AWS_ACCESS_KEY_ID", S3Server::kAccessKey, 1);
    setenv("AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey, 1);
  }
  void TearDown() override {
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    PgTest::TearDown();
  }
  // Files a query fetched from a remote archive (walden's local copies).
  int Fetched() {
    int n = 0;
    const std::string dir = ScratchDir() + "/data/history";
    if (!std::filesystem::exists(dir)) return 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      n += entry.is_regular_file() && entry.path().extension() == ".parquet";
    }
    return n;
  }
  // Four batches of 50 rows into `events`, each in its own archive commit (and file);
  // `boundary`: a commit time right after batch `boundary_after`.
  void WriteBatches(WaldenProcess& run, int boundary_after, std::string& boundary) {
    for (int batch = 1; batch <= 4; ++batch) {
      Exec(
          fmt::format("INSERT INTO events SELECT g, {0} FROM generate_series({0} * 100, {0} * "
                      "100 + 49) g",
                      batch));
      ASSERT_TRUE(run.WaitForLog(fmt::format("archive: commit {} with", batch), 30s))
          << run.Stderr();
      if (batch == boundary_after) boundary = *Rows("SELECT clock_timestamp()::text")[0][0];
    }
  }
  // The escapes of the security issue (docs/security.md), inside history queries.
  void ExpectEscapesRefused() {
    const std::string owned = ScratchDir() + "/owned";
    CommandResult r = Query(
        "SELECT count(*) FROM history.public.events WHERE _walden_lsn > 0); COPY (SELECT "
        "'x') TO '" +
            owned + "' (HEADER false); SELECT * FROM (SELECT 1",
        {"--allow-full-scan"});
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_FALSE(std::filesystem::exists(owned));
    r = Query(
        "SELECT content FROM read_text('/etc/passwd'), history.public.events WHERE "
        "_walden_lsn > 0");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("root:")));
  }
  std::unique_ptr<S3Server> s3_;
  std::unique_ptr<TcpProxy> proxy_;  // between walden and s3_, to count what is downloaded
  std::vector<std::string> RunArgs() {
    std::vector<std::string> args = {
        "run",           "--server-listen", "127.0.0.1:0",  "--source",
        AdminConninfo(), "--source-slot",   "history_slot", "--archive-flush-interval",
        "100ms"};
    for (const std::string& arg : Data()) args.push_back(arg);
    return args;
  }
  CommandResult Query(const std::string& sql, std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"query", sql, "--format", "csv"};
    args.insert(args.end(), flags.begin(), flags.end());
    for (const std::string& arg : Data()) args.push_back(arg);
    return RunWalden(args);
  }
  // "history: K of N files, …": K and N.
  static std::pair<int, int> FilesOf(const std::string& preview) {
    std::smatch m;
    if (!std::regex_search(preview, m, std::regex(R"(history: (\d+) of (\d+) files)"))) {
      return {-1, -1};
    }
    return {std::stoi(m[1]), std::stoi(m[2])};
  }
};

TEST_F(HistoryQueryTest, ABoundedQueryReadsOnlyItsWindowAndAnUnboundedOneIsRefused) {
  std::filesystem::remove_all(ScratchDir());
  Exec("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL)");
  std::string boundary;  // a commit time between the second and the third batch
  int files = 0;
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    WriteBatches(run, 2, boundary);
    ASSERT_FALSE(HasFatalFailure());
    const std::string bounded_sql =
        "SELECT count(*) AS n FROM history.public.events WHERE "
        "_walden_commit_ts >= '" +
        boundary + "'::TIMESTAMPTZ";
    // Through the running walden's HTTP API.
    CommandResult r = Query(bounded_sql, {"--dry-run"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto [read, all] = FilesOf(r.output);
    EXPECT_EQ(read, 2) << r.output;
    EXPECT_GE(all, 4) << r.output;  // the batches' and the initial load's (an empty table's)
    files = all;
    EXPECT_THAT(r.output, HasSubstr("0 GET requests, ~$0.0000 (public.events: 2 of"));
    r = Query(bounded_sql);
    EXPECT_EQ(r.output, "n\n100\n");
    r = Query(bounded_sql);  // again: each query attaches its history, and lets it go
    EXPECT_EQ(r.output, "n\n100\n");
    ExpectEscapesRefused();  // through the HTTP API
    r = Query("SELECT count(*) AS n FROM history.public.events");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.output, HasSubstr("no time or LSN bound"));
    EXPECT_THAT(r.output, HasSubstr("refused: a history table is read without a time or LSN "
                                    "bound; add WHERE _walden_commit_ts >= … (or _walden_lsn), "
                                    "or allow the full scan with --allow-full-scan"));
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  }
  // Offline, the same answers from the data directory and the archive.
  CommandResult r = Query(
      "SELECT count(*) AS n FROM history.public.events WHERE "
      "_walden_commit_ts < '" +
          boundary + "'::TIMESTAMPTZ",
      {"--dry-run"});
  EXPECT_EQ(FilesOf(r.output), std::make_pair(files - 2, files)) << r.output;
  r = Query(
      "SELECT count(*) AS n, min(batch) AS first FROM history.public.events WHERE "
      "_walden_commit_ts < '" +
      boundary + "'::TIMESTAMPTZ");
  EXPECT_EQ(r.output, "n,first\n100,1\n");
  r = Query("SELECT count(*) AS n FROM history.public.events", {"--allow-full-scan"});
  EXPECT_EQ(r.output, "n\n200\n");
  ExpectEscapesRefused();  // offline
  // The bounds of one query are configuration (query.max_result, query.timeout).
  r = Query("SELECT * FROM range(100000)", {"--query-max-result", "1KB"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("the result is larger than 1kB (query.max_result)"));
  // A key look-up reads the file whose recorded key range holds it (and files that record
  // none, such as the initial load's).
  r = Query("SELECT batch FROM history.public.events WHERE id = 305", {"--dry-run"});
  EXPECT_LE(FilesOf(r.output).first, 2) << r.output;
  EXPECT_GE(FilesOf(r.output).first, 1) << r.output;
  r = Query("SELECT batch FROM history.public.events WHERE id = 305");
  EXPECT_EQ(r.output, "batch\n3\n");
  r = Query("SELECT count(*) AS n FROM history.public.events");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // A query of the mirror alone has no preview and needs no flag.
  r = Query("SELECT count(*) AS n FROM public.events", {"--dry-run"});
  EXPECT_EQ(r.output, "reads no history\n");
  // Four bytes changed in every archived file: the query says so instead of answering.
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(ScratchDir() + "/archive/tables")) {
    if (entry.path().extension() != ".parquet") continue;
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(entry.file_size() / 2));
    file.write("\xde\xad\xbe\xef", 4);
  }
  r = Query(
      "SELECT count(*) AS n FROM history.public.events WHERE "
      "_walden_commit_ts >= '" +
      boundary + "'::TIMESTAMPTZ");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("does not match the checksum its commit recorded"));
  EXPECT_THAT(r.output, HasSubstr("walden archive verify lists every damaged file"));
  DropSlot("history_slot");
}

TEST_F(HistoryQueryTest, AsOfGivesTheTableAsItWasAndTailAndKeyFindChanges) {
  std::filesystem::remove_all(ScratchDir());
  Exec("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)");
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    ASSERT_TRUE(conn);
    for (int n = 0; !stop; ++n) {
      const int id = n * 7 % 40;
      const char* sql[] = {
          "INSERT INTO t VALUES ({0}, 'v{1}') ON CONFLICT (id) DO UPDATE SET v = "
          "excluded.v",
          "UPDATE t SET v = v || '+' WHERE id = {0}", "DELETE FROM t WHERE id = {0}"};
      ASSERT_TRUE(conn->Exec(fmt::format(fmt::runtime(sql[n % 5 == 4   ? 2
                                                          : n % 3 == 2 ? 1
                                                                       : 0]),
                                         id, n)));
      std::this_thread::sleep_for(5ms);
    }
  });
  // Copies of the table at chosen moments: writers wait on the lock, so nothing commits
  // between the copy and the time (and WAL position) taken with it.
  std::vector<std::pair<std::string, std::string>> points;  // (time, lsn)
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(700ms);
    auto conn = pg::Connection::Open(AdminConninfo());
    ASSERT_TRUE(conn);
    ASSERT_TRUE(conn->Exec("BEGIN"));
    ASSERT_TRUE(conn->Exec("LOCK TABLE t IN SHARE MODE"));
    ASSERT_TRUE(conn->Exec(fmt::format("CREATE TABLE snap{} AS SELECT * FROM t", i)));
    auto at = conn->Exec("SELECT clock_timestamp()::text, pg_current_wal_insert_lsn()::text");
    ASSERT_TRUE(at);
    points.emplace_back(std::string(at->Value(0, 0)), std::string(at->Value(0, 1)));
    ASSERT_TRUE(conn->Exec("COMMIT"));
  }
  stop = true;
  writer.join();
  // A moment before a schema change: the table as it was then, without the later column.
  Exec("CREATE TABLE snap3 AS SELECT * FROM t");
  const Row at = Rows("SELECT clock_timestamp()::text, pg_current_wal_insert_lsn()::text")[0];
  points.emplace_back(*at[0], *at[1]);
  Exec("ALTER TABLE t ADD COLUMN w int DEFAULT 5");
  Exec("INSERT INTO t VALUES (1000, 'late', 6)");
  ASSERT_TRUE(WaitForCaughtUp("history_slot"));
  run.process().Signal(SIGTERM);
  ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();

  auto source = [&](int i) {
    std::string csv = "id,v\n";
    for (const Row& row :
         Rows(fmt::format("SELECT id::text AS i, v FROM snap{} ORDER BY id, v", i))) {
      csv += *row[0] + "," + *row[1] + "\n";
    }
    return csv;
  };
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> args = {"history",       "public.t", "--as-of",
                                     points[i].first, "--format", "csv"};
    for (const std::string& arg : Data()) args.push_back(arg);
    CommandResult r = RunWalden(args);
    EXPECT_EQ(r.output, source(i)) << "as of " << points[i].first;
    args[3] = points[i].second;  // the same moment as an LSN
    r = RunWalden(args);
    EXPECT_EQ(r.output, source(i)) << "as of " << points[i].second;
    // And from SQL, as a table macro the query can join and filter.
    r = Query(fmt::format("SELECT id, v FROM walden_as_of('public.t', '{}') ORDER BY id, v",
                          points[i].first));
    EXPECT_EQ(r.output, source(i)) << "walden_as_of at " << points[i].first;
  }
  // Cost first: the rebuild reads the table's files up to the point, not the later ones.
  CommandResult cost = Query(
      fmt::format("SELECT * FROM walden_as_of('public.t', '{}')", points[0].first), {"--dry-run"});
  EXPECT_THAT(cost.output, ::testing::StartsWith("as of " + points[0].first + ": history: "));
  const auto [needed, all] = FilesOf(cost.output);
  EXPECT_GT(needed, 0) << cost.output;
  EXPECT_LT(needed, all) << cost.output;
  CommandResult joined = Query(fmt::format(
      "SELECT count(*) AS n FROM walden_as_of('public.t', '{0}') a JOIN walden_as_of('public.t', "
      "'{0}') b USING (id) WHERE a.id >= 0",
      points[3].second));
  EXPECT_EQ(joined.output,
            fmt::format("n\n{}\n", Rows("SELECT count(*) FROM snap3")[0][0].value_or("")));
  CommandResult two =
      Query(fmt::format("SELECT * FROM walden_as_of('public.t', '{}') UNION ALL SELECT * FROM "
                        "walden_as_of('public.t', '{}')",
                        points[0].second, points[1].second));
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_THAT(two.output, ::testing::HasSubstr(
                              "one walden_as_of(table, point) per query: one table at one point"));
  CommandResult bad = Query("SELECT * FROM walden_as_of('public.t')");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, ::testing::HasSubstr("walden_as_of takes two constants"));
  {  // through a running walden's HTTP API too
    WaldenProcess again(RunArgs());
    ASSERT_TRUE(again.WaitForLog("run: streaming slot", 30s)) << again.Stderr();
    auto answer = server::Post(
        *pipeline::RunningAddress(ScratchDir() + "/data"), "/api/query", {{"format", "csv"}},
        fmt::format("SELECT id, v FROM walden_as_of('public.t', '{}') ORDER BY id, v",
                    points[2].second));
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->status, 200) << answer->body;
    EXPECT_EQ(answer->body, source(2));
    again.process().Signal(SIGTERM);
    EXPECT_EQ(again.Wait(30s), 0) << again.Stderr();
  }
  std::vector<std::string> args = {"history", "public.t", "--tail", "3", "--format", "csv"};
  for (const std::string& arg : Data()) args.push_back(arg);
  CommandResult r = RunWalden(args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::ranges::count(r.output, '\n'), 4) << r.output;  // header and three changes
  args = {"history", "public.t", "--key", "id=7", "--format", "csv"};
  for (const std::string& arg : Data()) args.push_back(arg);
  r = RunWalden(args);
  EXPECT_EQ(r.exit_code, 2) << r.output;  // no window: refused
  args.push_back("--since");
  args.push_back(points[0].first);
  r = RunWalden(args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(::testing::ContainsRegex("\n(0|[1-689]|[1-9][0-9]),")));
  DropSlot("history_slot");
}

TEST_F(HistoryQueryTest, FromS3OnlyTheFilesOfTheWindowAreFetched) {
  std::filesystem::remove_all(ScratchDir());
  UseS3();
  Exec("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL)");
  std::string boundary;
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    WriteBatches(run, 3, boundary);
    ASSERT_FALSE(HasFatalFailure());
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
  }
  std::filesystem::remove_all(ScratchDir() + "/data/history");
  const std::string sql =
      "SELECT count(*) AS n FROM history.public.events WHERE "
      "_walden_commit_ts >= '" +
      boundary + "'::TIMESTAMPTZ";
  CommandResult r = Query(sql, {"--dry-run"});
  EXPECT_EQ(FilesOf(r.output).first, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(" 1 GET requests, ~$0.0000 (public.events: 1 of"));
  EXPECT_EQ(Fetched(), 0);  // a dry run fetches nothing
  r = Query(sql);
  EXPECT_EQ(r.output, "n\n50\n");
  EXPECT_EQ(Fetched(), 1);  // the one file of the window, not the table's other files
  // The local copies are a cache of bounded size: past query.cache_size, the least recently
  // used go (never those used in the last minutes, which queries in flight may read).
  r = Query("SELECT count(*) AS n FROM history.public.events", {"--allow-full-scan"});
  EXPECT_EQ(r.output, "n\n200\n");
  const int all = Fetched();
  EXPECT_GE(all, 4);
  r = Query(sql, {"--query-cache-size", "1B"});
  EXPECT_EQ(Fetched(), all);  // all used just now
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(ScratchDir() + "/data/history")) {
    if (entry.is_regular_file()) {
      std::filesystem::last_write_time(
          entry.path(), std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
    }
  }
  r = Query(sql, {"--query-cache-size", "1B"});
  EXPECT_TRUE(r.output.ends_with("\nn\n50\n")) << r.output;
  EXPECT_THAT(r.output, HasSubstr("query: removed "));
  EXPECT_EQ(Fetched(), 1);  // only the copy this query read
  DropSlot("history_slot");
}

TEST_F(HistoryQueryTest, FromS3ALargeFileIsReadByRangedGetsOfTheRowGroupsOfTheWindow) {
  std::filesystem::remove_all(ScratchDir());
  UseS3();
  auto proxy = TcpProxy::Start(s3_->port());
  ASSERT_TRUE(proxy) << proxy.error().message;
  proxy_ = std::move(*proxy);
  Exec("CREATE TABLE events (id int PRIMARY KEY, batch int NOT NULL, note text)");
  // Three transactions, compacted into one file (what a day of a busy table becomes):
  // 200,000, 100,000 and 30,000 rows in row groups of 122,880 rows in LSN order; the last
  // row group holds the end of batch 2 and all of batch 3.
  std::string boundary;  // after batch 2
  {
    WaldenProcess run(RunArgs());
    ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
    int first = 0;
    for (int batch = 1; batch <= 3; ++batch) {
      const int rows = batch == 1 ? 200000 : batch == 2 ? 100000 : 30000;
      Exec(fmt::format(
          "INSERT INTO events SELECT g, {}, 'note ' || g FROM generate_series({}, {}) g", batch,
          first, first + rows - 1));
      first += rows;
      if (batch == 2) boundary = *Rows("SELECT clock_timestamp()::text")[0][0];
    }
    ASSERT_TRUE(WaitForCaughtUp("history_slot", 120s)) << run.Stderr();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(60s), 0) << run.Stderr();
  }
  std::vector<std::string> compact = {"archive", "compact"};
  for (const std::string& arg : Data()) compact.push_back(arg);
  CommandResult c = RunWalden(compact);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  ASSERT_THAT(c.output, HasSubstr(" into 1 (")) << c.output;
  std::filesystem::remove_all(ScratchDir() + "/data/history");
  const std::string sql =
      "SELECT count(*) AS n, min(batch) AS lo, max(batch) AS hi FROM history.public.events "
      "WHERE _walden_commit_ts >= '" +
      boundary + "'::TIMESTAMPTZ";
  CommandResult r = Query(sql, {"--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.output, m,
                        std::regex(R"(\((\d+) of their (\d+) row groups by ranged reads\), )"
                                   R"(.*, (\d+) GET requests)")))
      << r.output;
  EXPECT_EQ(m[1], "1") << r.output;
  EXPECT_EQ(m[2], "3") << r.output;
  EXPECT_EQ(m[3], "2") << r.output;  // magic; the last row group and the footer
  int64_t before = proxy_->BytesFromServer();
  r = Query(sql);
  EXPECT_EQ(r.output, "n,lo,hi\n30000,3,3\n");
  const int64_t ranged = proxy_->BytesFromServer() - before;
  bool partial = false;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(ScratchDir() + "/data/history")) {
    partial = partial || entry.path().string().ends_with(".rg-2.parquet");
  }
  EXPECT_TRUE(partial);
  // The whole table, read whole, for comparison: the window took well under half of it.
  before = proxy_->BytesFromServer();
  r = Query("SELECT count(*) AS n, count(DISTINCT id) AS ids FROM history.public.events",
            {"--allow-full-scan"});
  EXPECT_EQ(r.output, "n,ids\n330000,330000\n");
  const int64_t whole = proxy_->BytesFromServer() - before;
  // A local copy that changed is fetched again, not blamed on the archive.
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(ScratchDir() + "/data/history")) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && path.ends_with(".parquet") && !path.contains(".rg-")) {
      std::fstream damaged(path, std::ios::binary | std::ios::in | std::ios::out);
      damaged.seekp(100);
      damaged.write("walden", 6);
    }
  }
  r = Query("SELECT count(*) AS n, count(DISTINCT id) AS ids FROM history.public.events",
            {"--allow-full-scan"});
  EXPECT_EQ(r.output, "n,ids\n330000,330000\n");
  EXPECT_LT(ranged * 2, whole) << ranged << " of " << whole;
  std::printf("downloaded: %lld bytes for the window, %lld for the whole table\n",
              static_cast<long long>(ranged), static_cast<long long>(whole));
  // A key look-up reads the one row group whose key range holds the key.
  const std::string lookup =
      "SELECT batch, note FROM history.public.events WHERE id = 250000 AND _walden_lsn > 0";
  r = Query(lookup, {"--dry-run"});
  EXPECT_THAT(r.output, HasSubstr("(1 of their 3 row groups by ranged reads)")) << r.output;
  r = Query(lookup);
  EXPECT_EQ(r.output, "batch,note\n2,note 250000\n");
  // A window in no row group reads the footer alone, for the columns.
  r = Query("SELECT count(*) AS n FROM history.public.events WHERE _walden_lsn = 1");
  EXPECT_EQ(r.output, "n\n0\n");
  DropSlot("history_slot");
}

}  // namespace
}  // namespace walden::testing
