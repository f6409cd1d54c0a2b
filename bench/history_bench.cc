// History queries over a generated month of archive (design §13), beside plain DuckDB over
// the same folder with a glob, in the same run:
//
//   window   one hour of changes: count and sum over history.public.events
//   key      one key's changes: WHERE id = K
//
// walden plans first (the manifest's time, LSN and key ranges) and gives DuckDB only the
// files that can hold rows; the reference reads every file's footer and whatever row groups
// its statistics cannot rule out. Also the time of the cost preview alone.
//
//   history_bench [--days=30] [--files=1440] [--rows=2000] [--json=FILE]
#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <functional>

#include "archive/manifest.h"
#include "archive/segment_writer.h"
#include "bench/bench_util.h"
#include "duck/duckdb.h"
#include "query/history.h"
#include "store/local_store.h"

namespace {

using namespace walden;
using bench::Must;
using Clock = std::chrono::steady_clock;

constexpr int64_t kStart = 1793491200LL * 1000000;  // 2026-11-01 00:00:00 UTC, µs
const QualifiedName kTable{"public", "events"};

std::string Day(int64_t micros) {
  const std::time_t seconds = micros / 1000000;
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", std::gmtime(&seconds));
  return text;
}

// `files` Parquet files of `rows` changes each, consecutive in time, LSN and key, committed
// to the archive at `root` in one manifest commit.
void Generate(const std::string& root, int files, int64_t rows, int64_t span) {
  auto store = Must(store::LocalStore::Open(root), "store");
  auto db = Must(duck::Database::Open(":memory:"), "duckdb");
  auto conn = Must(duck::Connection::Open(db), "connect");
  std::vector<archive::SegmentFile> added;
  for (int i = 0; i < files; ++i) {
    const int64_t from = kStart + i * span;
    const uint64_t first = 1000000 + static_cast<uint64_t>(i * rows);
    archive::SegmentFile file{.table = kTable,
                              .day = Day(from),
                              .first_lsn = first,
                              .last_lsn = first + static_cast<uint64_t>(rows) - 1,
                              .rows = rows,
                              .min_commit_time = from,
                              .max_commit_time = from + (rows - 1) * (span / rows)};
    file.key = archive::SegmentKey(file.table, file.day, file.first_lsn, file.last_lsn);
    file.key_range = archive::KeyRange{.column = "id",
                                       .numeric = true,
                                       .min = std::to_string(i * rows),
                                       .max = std::to_string((i + 1) * rows - 1)};
    file.local_path = root + "/" + file.key;
    std::filesystem::create_directories(std::filesystem::path(file.local_path).parent_path());
    Must(conn.Execute(fmt::format(
             "COPY (SELECT {0} * {1} + r AS id, 'event ' || r || ' of file {0}' AS v, "
             "'c' AS _walden_op, ({2} + r)::UBIGINT AS _walden_lsn, r AS _walden_seq, "
             "(1000 + r)::UINTEGER AS _walden_xid, to_timestamp(({3} + r * {4}) / 1000000.0) AS "
             "_walden_commit_ts, NULL::JSON AS _walden_before, []::VARCHAR[] AS "
             "_walden_unchanged FROM range({1}) t(r)) TO '{5}' (FORMAT parquet, COMPRESSION "
             "zstd)",
             i, rows, first, from, span / rows, file.local_path)),
         "write");
    Must(archive::Fingerprint(conn, file), "fingerprint");
    added.push_back(std::move(file));
  }
  archive::Manifest manifest(*store);
  auto state = Must(manifest.Load(), "manifest");
  const Lsn end{added.back().last_lsn};
  Must(manifest.Commit(state, {end, end}, std::move(added)), "commit");
}

double Seconds(const std::function<void()>& work) {
  const auto start = Clock::now();
  work();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int days = 30, files = 1440;
  int64_t rows = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--days=")) days = std::stoi(argv[i] + 7);
    if (arg.starts_with("--files=")) files = std::stoi(argv[i] + 8);
    if (arg.starts_with("--rows=")) rows = std::stoll(argv[i] + 7);
  }
  const int64_t span = int64_t{days} * 86400 * 1000000 / files;
  const std::string root = std::filesystem::temp_directory_path() / "walden-history-bench";
  std::filesystem::remove_all(root);
  const double generated = Seconds([&] { Generate(root, files, rows, span); });
  int64_t archive_bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root + "/tables")) {
    if (entry.is_regular_file()) archive_bytes += static_cast<int64_t>(entry.file_size());
  }
  fmt::print("{} files, {} changes over {} days, {:.1f} MB, generated in {:.1f} s\n", files,
             files * rows, days, archive_bytes / 1048576.0, generated);

  auto store = Must(store::LocalStore::Open(root), "store");
  const archive::ArchiveState state = Must(archive::Manifest(*store).Load(), "manifest");
  auto db = Must(duck::Database::Open(":memory:"), "duckdb");
  const int64_t mid = kStart + int64_t{days} * 86400 * 1000000 / 2;
  const std::string hour = fmt::format(
      "_walden_commit_ts >= to_timestamp({} / 1000000.0) AND _walden_commit_ts < to_timestamp({} / "
      "1000000.0)",
      mid, mid + int64_t{3600} * 1000000);
  const int64_t key = int64_t{files} * rows / 2 + 7;
  const std::string glob =
      fmt::format("read_parquet('{}/tables/**/*.parquet', union_by_name = true)", root);
  struct Scenario {
    const char* name;
    std::string where;
  };
  const Scenario scenarios[] = {{"window", hour}, {"key", fmt::format("id = {}", key)}};
  for (const Scenario& s : scenarios) {
    const std::string select = "SELECT count(*) AS n, sum(length(v)) AS len FROM ";
    const std::string sql = select + "history.public.events WHERE " + s.where;
    query::PreparedHistory preview;
    auto planner = Must(duck::Connection::Open(db), "connect");
    const double preview_s = Seconds([&] {
      preview = Must(query::PrepareHistory(planner, *store, state, sql,
                                           {.dry_run = true, .cache_dir = root + "/cache"}),
                     "preview");
    });
    std::string walden_out, reference_out;
    const double walden_s = Seconds([&] {
      walden_out = Must(query::RunWithHistory(db, *store, state, sql, query::OutputFormat::kCsv,
                                              {.cache_dir = root + "/cache"}, {}),
                        "walden")
                       .output;
    });
    auto reader = Must(duck::Connection::Open(db), "connect");
    const double reference_s = Seconds([&] {
      auto result = Must(reader.Query(select + glob + " WHERE " + s.where), "duckdb");
      reference_out = fmt::format("n,len\n{},{}\n", result.Text(0, 0).value_or(""),
                                  result.Text(0, 1).value_or(""));
    });
    const auto read =
        query::PlanHistory(state, Must(query::FindHistoryReads(planner, sql), "plan"), false, {});
    fmt::print(
        "{:<7} walden {:7.1f} ms ({} of {} files, {:.2f} MB; preview {:.1f} ms)   "
        "DuckDB glob {:7.1f} ms (opens {} files, {:.1f} MB)   {:.1f}x faster{}\n",
        s.name, walden_s * 1000, read.files, files, read.bytes / 1048576.0, preview_s * 1000,
        reference_s * 1000, files, archive_bytes / 1048576.0, reference_s / walden_s,
        walden_out == reference_out ? "" : "  RESULTS DIFFER");
    bench::AppendJson(
        bench::JsonPath(argc, argv),
        fmt::format(R"({{"scenario":"history_{}","files":{},"changes":{},"walden_s":{:.4f},)"
                    R"("reference_s":{:.4f},"preview_s":{:.4f},"walden_files":{},)"
                    R"("walden_bytes":{},"archive_bytes":{},"same_answer":{}}})",
                    s.name, files, files * rows, walden_s, reference_s, preview_s, read.files,
                    read.bytes, archive_bytes, walden_out == reference_out));
    if (walden_out != reference_out) {
      fmt::print(stderr, "walden:\n{}reference:\n{}", walden_out, reference_out);
      return 1;
    }
  }
  std::filesystem::remove_all(root);
  return 0;
}
