// Bytes per change in the archive versus bytes per row in PostgreSQL (table + indexes +
// TOAST), measured in the same run for two tables: the suite's 8-column `orders` table and a
// `telemetry` table (vehicle positions).
//
//   storage_bench [--rows=N] [--json=FILE]
//
// The rows go through the real path: logical replication → capture → archive sink →
// Zstd Parquet in a local archive.
#include <fmt/core.h>

#include <filesystem>

#include "bench/bench_util.h"
#include "pg/capture.h"
#include "pg/local_server.h"
#include "pipeline/archive_sink.h"
#include "pipeline/change_typer.h"
#include "store/local_store.h"

namespace {

using namespace walden;
using bench::Must;

struct Table {
  const char* name;
  const char* ddl;
  const char* insert;  // fmt: {0} first, {1} last value of i
};

const Table kTables[] = {
    {"orders",
     "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, "
     "amount numeric(12,2) NOT NULL, currency char(3) NOT NULL, created_at timestamptz NOT NULL, "
     "updated_at timestamptz, note text)",
     "INSERT INTO orders SELECT i, 1 + i % 50000, (ARRAY['new','paid','shipped','done'])[1 + i % "
     "4], round((i % 100000) / 7.0, 2), 'EUR', timestamptz '2026-01-01' + i * interval '1 s', "
     "CASE WHEN i % 3 = 0 THEN timestamptz '2026-02-01' + i * interval '1 s' END, CASE WHEN i % "
     "10 = 0 THEN 'gift wrap ' || i END FROM generate_series({0}, {1}) i"},
    // Vehicles reporting every second: positions drift, GPS precision 1e-6 degrees.
    {"telemetry",
     "CREATE TABLE telemetry (id bigserial PRIMARY KEY, entity_id int NOT NULL, lat double "
     "precision, lon double precision, altitude real, speed real, heading smallint, recorded_at "
     "timestamptz NOT NULL, payload jsonb)",
     "INSERT INTO telemetry (entity_id, lat, lon, altitude, speed, heading, recorded_at, payload) "
     "SELECT 1 + i % 1000, round((48.1 + (i % 1000) * 0.001 + i * 1e-7)::numeric, 6), round((11.5 "
     "+ (i % 997) * 0.001 - i * 1e-7)::numeric, 6), 500 + (i % 50), (i % 130) / 3.6, (i * 7) % "
     "360, timestamptz '2026-11-21' + i * interval '1 ms', jsonb_build_object('battery', 100 - (i "
     "/ 1000) % 100, 'status', 'ok') FROM generate_series({0}, {1}) i"},
    // A topic's messages (design §12) as walden_topics.<topic> holds them: aircraft
    // positions keyed by flight, 4 partitions.
    {"topic",
     "CREATE TABLE topic (partition int NOT NULL, \"offset\" bigint NOT NULL, key text, value "
     "jsonb NOT NULL, headers jsonb, produced_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY "
     "(partition, \"offset\", produced_at))",
     "INSERT INTO topic (partition, \"offset\", key, value, produced_at) SELECT i % 4, i / 4, "
     "'FL' || (i % 1000), jsonb_build_object('lat', round((48.1 + (i % 1000) * 0.001 + i * "
     "1e-7)::numeric, 6), 'lon', round((11.5 - i * 1e-7)::numeric, 6), 'alt', 9000 + i % 500, "
     "'speed', 230 + i % 40), timestamptz '2026-11-21' + i * interval '1 ms' FROM "
     "generate_series({0}, {1}) i"},
};

// Archive bytes for `rows` rows of `table`, captured from its own slot.
int64_t ArchiveBytes(const std::string& conninfo, pg::Connection& conn, const Table& table,
                     int64_t rows, const std::string& dir) {
  std::filesystem::remove_all(dir);
  auto store = Must(store::LocalStore::Open(dir + "/archive"), "store");
  auto sink = Must(pipeline::ArchiveSink::Open(*store, {.spool_path = dir + "/spool.duckdb",
                                                        .scratch_dir = dir + "/segments",
                                                        .flush_interval = std::chrono::hours(1),
                                                        .flush_size = int64_t{1} << 40,
                                                        .lease_owner = "bench"}),
                   "sink");
  Must(conn.Exec(fmt::format("CREATE PUBLICATION {0} FOR TABLE {0}", table.name)), "publication");
  pipeline::ChangeTyper typer;
  auto capture = Must(pg::Capture::Start({.conninfo = conninfo,
                                          .slot = table.name,
                                          .publication = table.name,
                                          .spill_dir = dir + "/spill"}),
                      "capture");
  const int64_t batch = 10000;
  for (int64_t done = 0; done < rows; done += batch) {
    Must(conn.Exec(fmt::format(fmt::runtime(table.insert), done + 1, std::min(rows, done + batch))),
         "insert");
  }
  int64_t captured = 0;
  while (captured < rows) {
    Must(capture->Poll(std::chrono::milliseconds(200),
                       [&](pg::CommittedTransaction&& txn) {
                         captured += static_cast<int64_t>(txn.change_count());
                         pipeline::Sink* const sinks[] = {sink.get()};
                         return pipeline::Deliver(typer, txn, sinks);
                       }),
         "capture");
  }
  Must(sink->Flush(), "flush");
  int64_t bytes = 0;
  for (const auto& [key, file] : sink->state().live) bytes += file.bytes;
  std::filesystem::remove_all(dir);
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--rows=")) rows = std::stoll(argv[i] + 7);
  }
  auto server = Must(pg::LocalServer::Start({}), "server");
  const std::string conninfo = server->AdminConninfo();
  auto conn = Must(pg::Connection::Open(conninfo), "connect");
  const std::string dir = std::filesystem::temp_directory_path() / "walden-storage-bench";
  fmt::print("{} rows per table (PostgreSQL {})\n", rows, server->major_version());
  for (const Table& table : kTables) {
    Must(conn.Exec(table.ddl), "create");
    const int64_t archive_bytes = ArchiveBytes(conninfo, conn, table, rows, dir);
    const int64_t pg_bytes = std::stoll(Must(
        conn.QueryValue(fmt::format("SELECT pg_total_relation_size('{}')", table.name)), "size"));
    const double pg_per_row = double(pg_bytes) / rows,
                 archive_per_row = double(archive_bytes) / rows;
    fmt::print("{:<10} PostgreSQL {:6.1f} B/row   archive {:5.1f} B/change   {:5.1f}x smaller\n",
               table.name, pg_per_row, archive_per_row, double(pg_bytes) / archive_bytes);
    bench::AppendJson(
        bench::JsonPath(argc, argv),
        fmt::format(R"({{"scenario":"storage","table":"{}","rows":{},)"
                    R"("postgres_bytes_per_row":{:.2f},"archive_bytes_per_row":{:.2f},)"
                    R"("ratio":{:.3f},"postgres":{}}})",
                    table.name, rows, pg_per_row, archive_per_row, double(pg_bytes) / archive_bytes,
                    server->major_version()));
  }
  return 0;
}
