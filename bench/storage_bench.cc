// Bytes per change in the archive versus bytes per row in PostgreSQL (table + indexes +
// TOAST) for a telemetry table, measured in the same run:
//
//   storage_bench [--rows=N]
//
// The rows go through the real path: logical replication → capture → archive sink →
// Zstd Parquet in a local archive.
#include <fmt/core.h>

#include <filesystem>

#include "bench/bench_util.h"
#include "pg/capture.h"
#include "pg/local_server.h"
#include "pipeline/archive_sink.h"
#include "store/local_store.h"

namespace {

using namespace walden;

using bench::Must;

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--rows=")) rows = std::stoll(argv[i] + 7);
  }
  auto server = Must(pg::LocalServer::Start({}), "server");
  const std::string conninfo = server->AdminConninfo();
  auto conn = Must(pg::Connection::Open(conninfo), "connect");
  Must(conn.Exec("CREATE TABLE telemetry (id bigserial PRIMARY KEY, entity_id int NOT NULL, "
                 "lat double precision, lon double precision, altitude real, speed real, "
                 "heading smallint, recorded_at timestamptz NOT NULL, payload jsonb)"),
       "create");
  const std::string dir = std::filesystem::temp_directory_path() / "walden-storage-bench";
  std::filesystem::remove_all(dir);
  auto store = Must(store::LocalStore::Open(dir + "/archive"), "store");
  auto sink = Must(pipeline::ArchiveSink::Open(*store, {.spool_path = dir + "/spool.duckdb",
                                                        .scratch_dir = dir + "/segments",
                                                        .flush_interval = std::chrono::hours(1),
                                                        .flush_size = int64_t{1} << 40,
                                                        .lease_owner = "bench"}),
                   "sink");
  auto capture = Must(pg::Capture::Start({.conninfo = conninfo,
                                          .slot = "bench",
                                          .publication = "bench",
                                          .spill_dir = dir + "/spill"}),
                      "capture");
  // Vehicles reporting every second: positions drift, GPS precision 1e-6 degrees.
  const int64_t batch = 10000;
  for (int64_t done = 0; done < rows; done += batch) {
    Must(conn.Exec(fmt::format(
             "INSERT INTO telemetry (entity_id, lat, lon, altitude, speed, heading, recorded_at, "
             "payload) SELECT 1 + i % 1000, round((48.1 + (i % 1000) * 0.001 + i * 1e-7)::numeric, "
             "6), round((11.5 + (i % 997) * 0.001 - i * 1e-7)::numeric, 6), 500 + (i % 50), "
             "(i % 130) / 3.6, (i * 7) % 360, timestamptz '2026-11-21' + i * interval '1 ms', "
             "jsonb_build_object('battery', 100 - (i / 1000) % 100, 'status', 'ok') FROM "
             "generate_series({}, {}) i",
             done, std::min(rows, done + batch) - 1)),
         "insert");
  }
  int64_t captured = 0;
  while (captured < rows) {
    Must((*capture).Poll(std::chrono::milliseconds(200),
                         [&](pg::CommittedTransaction&& txn) {
                           captured += static_cast<int64_t>(txn.change_count());
                           return sink->Apply(txn);
                         }),
         "capture");
  }
  Must(sink->Flush(), "flush");
  int64_t archive_bytes = 0;
  for (const auto& [key, file] : sink->state().live) archive_bytes += file.bytes;
  const int64_t pg_bytes =
      std::stoll(Must(conn.QueryValue("SELECT pg_total_relation_size('telemetry')"), "size"));
  fmt::print("telemetry rows: {} (PostgreSQL {})\n", rows, server->major_version());
  fmt::print("PostgreSQL table + indexes + TOAST: {} bytes = {:.1f} bytes/row\n", pg_bytes,
             double(pg_bytes) / rows);
  fmt::print(
      "walden archive (Zstd Parquet, with metadata columns): {} bytes = {:.1f} bytes/change\n",
      archive_bytes, double(archive_bytes) / rows);
  fmt::print("ratio: {:.1f}x smaller\n", double(pg_bytes) / archive_bytes);
  bench::AppendJson(bench::JsonPath(argc, argv),
                    fmt::format(R"({{"scenario":"storage","table":"telemetry","rows":{},)"
                                R"("postgres_bytes_per_row":{:.2f},"archive_bytes_per_row":{:.2f},)"
                                R"("ratio":{:.3f},"postgres":{}}})",
                                rows, double(pg_bytes) / rows, double(archive_bytes) / rows,
                                double(pg_bytes) / archive_bytes, server->major_version()));
  std::filesystem::remove_all(dir);
  return 0;
}
