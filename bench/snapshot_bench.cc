// Initial-load rows/s end to end (exported snapshot → parallel COPY chunks → archive spool and
// Zstd Parquet + DuckDB mirror, everything flushed) beside the reference measured in the same
// run on the same table: `COPY (SELECT * FROM orders) TO STDOUT` read by one client and
// thrown away (what `psql -c '\copy ... to /dev/null'` does).
//
//   snapshot_bench [--rows=N] [--workers=W] [--chunk-rows=C]
#include <fmt/core.h>

#include <chrono>
#include <filesystem>

#include "bench/bench_util.h"
#include "pg/connection.h"
#include "pg/local_server.h"
#include "pipeline/archive_sink.h"
#include "pipeline/initial_load.h"
#include "pipeline/mirror_sink.h"
#include "store/local_store.h"

namespace {

using namespace walden;
using bench::Must;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000, chunk_rows = 100000;
  int workers = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--rows=")) rows = std::stoll(argv[i] + 7);
    if (arg.starts_with("--workers=")) workers = std::stoi(argv[i] + 10);
    if (arg.starts_with("--chunk-rows=")) chunk_rows = std::stoll(argv[i] + 13);
  }
  auto server = Must(pg::LocalServer::Start({}), "server");
  const std::string conninfo = server->AdminConninfo();
  auto conn = Must(pg::Connection::Open(conninfo), "connect");
  // The realistic 8-column orders table of the benchmark suite.
  Must(conn.Exec(fmt::format(
           "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT "
           "NULL, amount numeric(12,2) NOT NULL, currency char(3) NOT NULL, created_at "
           "timestamptz NOT NULL, updated_at timestamptz, note text);"
           "INSERT INTO orders SELECT i, 1 + i % 50000, (ARRAY['new','paid','shipped','done'])"
           "[1 + i % 4], round((i % 100000) / 7.0, 2), 'EUR', timestamptz '2026-01-01' + i * "
           "interval '1 s', CASE WHEN i % 3 = 0 THEN timestamptz '2026-02-01' + i * interval "
           "'1 s' END, CASE WHEN i % 10 = 0 THEN 'gift wrap ' || i END FROM generate_series(1, "
           "{}) i",
           rows)),
       "fill");
  Must(conn.Exec("VACUUM ANALYZE orders"), "vacuum");

  auto started = Clock::now();
  const bench::CpuTimes before_copy = bench::ReadCpuTimes();
  int64_t copied = 0;
  Must(conn.CopyOut("COPY (SELECT * FROM orders) TO STDOUT",
                    [&](std::string_view) {
                      ++copied;
                      return Status{};
                    }),
       "copy");
  const double copy_seconds = Seconds(started);
  const bench::CpuTimes after_copy = bench::ReadCpuTimes();

  const std::string dir = std::filesystem::temp_directory_path() / "walden-snapshot-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = Must(store::LocalStore::Open(dir + "/archive"), "store");
  auto archive = Must(pipeline::ArchiveSink::Open(*store, {.spool_path = dir + "/spool.duckdb",
                                                           .scratch_dir = dir + "/segments",
                                                           .lease_owner = "bench"}),
                      "archive");
  auto mirror = Must(pipeline::MirrorSink::Open({.path = dir + "/mirror.duckdb"}), "mirror");
  Config config;
  config.data_dir = dir;
  config.source.url = conninfo;
  config.source.slot = "bench";
  config.source.publication = "bench";
  config.snapshot.workers = workers;
  config.snapshot.chunk_rows = chunk_rows;
  started = Clock::now();
  const bench::CpuTimes before_load = bench::ReadCpuTimes();
  Must(pipeline::InitialLoad(config, *archive, *mirror), "initial load");
  const double load_seconds = Seconds(started);
  const bench::CpuTimes after_load = bench::ReadCpuTimes();
  // Core-seconds per million rows: where the machine's work went in each run.
  const double per_m = 1e6 / static_cast<double>(rows);
  const double copy_cpu = (after_copy.machine_busy - before_copy.machine_busy) * per_m;
  const double walden_cpu = (after_load.process - before_load.process) * per_m;
  const double others_cpu =
      (after_load.machine_busy - before_load.machine_busy) * per_m - walden_cpu;
  const double busy = (after_load.machine_busy - before_load.machine_busy) /
                      (after_load.machine_total - before_load.machine_total);

  const double copy_rate = copied / copy_seconds, load_rate = rows / load_seconds;
  fmt::print("{:<58} {:>12} {:>10}\n", "snapshot of orders (8 columns)", "rows/s", "seconds");
  fmt::print("{:<58} {:>12.0f} {:>10.2f}\n", "COPY (SELECT * FROM orders) TO STDOUT → /dev/null",
             copy_rate, copy_seconds);
  fmt::print("{:<58} {:>12.0f} {:>10.2f}\n",
             fmt::format("walden initial load → archive + mirror ({} workers)", workers), load_rate,
             load_seconds);
  fmt::print("ratio walden / COPY: {:.2f} (target ≥ 0.80), {} rows\n", load_rate / copy_rate, rows);
  fmt::print(
      "CPU per million rows: COPY → /dev/null {:.2f} core-s (PostgreSQL + client); walden's "
      "load {:.2f} core-s in walden + {:.2f} in PostgreSQL and the rest; machine busy {:.0f} % "
      "during the load\n",
      copy_cpu, walden_cpu, others_cpu, busy * 100);
  const int64_t peak_rss = bench::PeakRss(getpid());  // the load is the process's largest
  fmt::print("peak RSS of walden's side (this process): {} MiB\n", peak_rss >> 20);
  bench::AppendJson(
      bench::JsonPath(argc, argv),
      fmt::format(R"({{"scenario":"snapshot","rows":{},"workers":{},)"
                  R"("walden_rows_per_s":{:.0f},"reference_rows_per_s":{:.0f},)"
                  R"("ratio":{:.3f},"postgres":{},"reference_cpu_per_m":{:.3f},)"
                  R"("walden_cpu_per_m":{:.3f},"others_cpu_per_m":{:.3f},)"
                  R"("busy":{:.3f},"walden_peak_rss_bytes":{}}})",
                  rows, workers, load_rate, copy_rate, load_rate / copy_rate,
                  server->major_version(), copy_cpu, walden_cpu, others_cpu, busy, peak_rss));
  std::filesystem::remove_all(dir);
  return 0;
}
