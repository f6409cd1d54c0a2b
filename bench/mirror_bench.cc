// The mirror's two figures, each beside its reference in the same run:
//
//   mirror_bench [--changes=N] [--batch=N] [--rate=N] [--seconds=N]
//
// 1. Merge throughput by op mix: N changes to an 8-column orders table merged in batches of
//    `batch` (one Commit each, as one apply_interval's worth), against DuckDB's appender
//    writing the same number of rows into a plain table (the insert-only ceiling).
// 2. Commit→mirror-visible latency at a steady `rate` changes/s from a real PostgreSQL on this
//    machine through capture and the mirror sink (apply_interval 100 ms), against
//    commit→received (when capture handed the transaction over): what walden adds on top
//    of PostgreSQL's own delivery.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "bench/bench_util.h"
#include "common/units.h"
#include "duck/appender.h"
#include "mirror/mirror.h"
#include "pg/capture.h"
#include "pg/local_server.h"
#include "pipeline/change_typer.h"
#include "pipeline/mirror_sink.h"

namespace {

using namespace walden;
using Clock = std::chrono::steady_clock;

using bench::Must;

const ColumnType kBig{.kind = TypeKind::kInt64, .pg_oid = 20};
const ColumnType kInt{.kind = TypeKind::kInt32, .pg_oid = 23};
const ColumnType kText{.kind = TypeKind::kText, .pg_oid = 25};
const ColumnType kMoney{.kind = TypeKind::kDecimal, .precision = 12, .scale = 2, .pg_oid = 1700};
const ColumnType kTs{.kind = TypeKind::kTimestampTz, .pg_oid = 1184};

change::TableDef Orders() {
  return {.relation_id = 1,
          .name = {"public", "orders"},
          .columns = {{.name = "id", .type = kBig, .key = true},
                      {.name = "customer_id", .type = kInt},
                      {.name = "status", .type = kText},
                      {.name = "total", .type = kMoney},
                      {.name = "items", .type = kInt},
                      {.name = "note", .type = kText},
                      {.name = "created_at", .type = kTs},
                      {.name = "updated_at", .type = kTs}}};
}

std::vector<std::optional<Datum>> Row(int64_t id, std::mt19937_64& random) {
  const int64_t k = static_cast<int64_t>(random() % 1000000);
  return {Datum(id),
          Datum(k % 50000),
          Datum(std::string(k % 3 ? "paid" : "shipped")),
          Datum(Decimal{.unscaled = k * 7 + 99, .scale = 2}),
          Datum(k % 9 + 1),
          Datum(fmt::format("order note {}", k)),
          Datum(Timestamp{1795219200000000 + id * 1000}),
          Datum(Timestamp{1795219200000000 + k})};
}

struct Mix {
  const char* name;
  int inserts, updates, deletes;  // percent
};

// Changes/s of Commit()-ed batches for one op mix.
double MergeThroughput(const Mix& mix, int64_t changes, int64_t batch, const std::string& dir) {
  const std::string path = dir + "/merge.duckdb";
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
  auto m = Must(mirror::Mirror::Open(path), "open");
  Must(m->Define(Orders()), "define");
  std::mt19937_64 random(42);
  int64_t next_id = 1, lsn = 1;
  // Existing rows for updates and deletes to hit.
  for (int64_t i = 0; i < 100000; ++i) {
    auto row = Row(next_id++, random);
    Must(m->Add(1, {.op = 'c', .lsn = 1, .seq = i, .values = row}), "seed");
  }
  Must(m->Commit({Lsn{1}, Lsn{1}, 0}), "seed commit");
  const auto start = Clock::now();
  for (int64_t done = 0; done < changes; done += batch) {
    ++lsn;
    for (int64_t i = 0; i < batch; ++i) {
      const int pick = static_cast<int>(random() % 100);
      const int64_t existing =
          1 + static_cast<int64_t>(random() % static_cast<uint64_t>(next_id - 1));
      if (pick < mix.inserts) {
        auto row = Row(next_id++, random);
        Must(m->Add(1, {.op = 'c', .lsn = static_cast<uint64_t>(lsn), .seq = i, .values = row}),
             "add");
      } else if (pick < mix.inserts + mix.updates) {
        auto row = Row(existing, random);
        Must(m->Add(1, {.op = 'u', .lsn = static_cast<uint64_t>(lsn), .seq = i, .values = row}),
             "add");
      } else {
        const std::vector<Datum> key{Datum(existing)};
        Must(m->Add(1, {.op = 'd', .lsn = static_cast<uint64_t>(lsn), .seq = i, .before = key}),
             "add");
      }
    }
    Must(m->Commit({Lsn{static_cast<uint64_t>(lsn)}, Lsn{static_cast<uint64_t>(lsn)}, 0}),
         "commit");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(changes) / seconds;
}

// Rows/s of DuckDB's appender into a plain table, committed every `batch` rows.
double AppenderCeiling(int64_t changes, int64_t batch, const std::string& dir) {
  const std::string path = dir + "/plain.duckdb";
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
  auto db = Must(duck::Database::Open(path), "open");
  auto conn = Must(duck::Connection::Open(db), "connect");
  Must(conn.Execute("CREATE TABLE orders (id BIGINT, customer_id INTEGER, status VARCHAR, total "
                    "DECIMAL(12,2), items INTEGER, note VARCHAR, created_at TIMESTAMPTZ, "
                    "updated_at TIMESTAMPTZ)"),
       "create");
  const change::TableDef def = Orders();
  std::vector<ColumnType> types;
  for (const auto& c : def.columns) types.push_back(c.type);
  std::mt19937_64 random(42);
  const auto start = Clock::now();
  for (int64_t done = 0; done < changes; done += batch) {
    auto appender = Must(duck::Appender::Open(conn, "main", "orders"), "appender");
    for (int64_t i = 0; i < batch; ++i) {
      auto row = Row(done + i, random);
      std::vector<Datum> values;
      for (auto& v : row) values.push_back(std::move(*v));
      Must(appender.AppendRow(types, values), "append");
    }
    Must(appender.Flush(), "flush");
  }
  return static_cast<double>(changes) / std::chrono::duration<double>(Clock::now() - start).count();
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(q * static_cast<double>(values.size())))];
}

struct Latency {
  std::vector<double> visible_ms;   // commit → visible in the mirror
  std::vector<double> received_ms;  // commit → handed over by capture
  int64_t changes = 0;
  double seconds = 0;
};

// A steady workload of 10-change transactions (6 inserts, 3 updates, 1 delete) at `rate`
// changes/s for `seconds`, through capture and the mirror sink.
Latency MeasureLatency(int64_t rate, int seconds, const std::string& dir) {
  auto server = Must(pg::LocalServer::Start({}), "server");
  const std::string conninfo = server->AdminConninfo();
  auto conn = Must(pg::Connection::Open(conninfo), "connect");
  Must(conn.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, status text, "
                 "total numeric(12,2), items int, note text, created_at timestamptz, "
                 "updated_at timestamptz)"),
       "create");
  Latency out;
  auto sink = Must(pipeline::MirrorSink::Open(
                       {.path = dir + "/latency.duckdb",
                        .apply_interval = std::chrono::milliseconds(100),
                        .on_visible =
                            [&](int64_t commit, int64_t visible) {
                              out.visible_ms.push_back(static_cast<double>(visible - commit) / 1e3);
                            }}),
                   "mirror");
  pipeline::ChangeTyper typer;
  auto capture = Must(pg::Capture::Start({.conninfo = conninfo,
                                          .slot = "bench",
                                          .publication = "bench",
                                          .spill_dir = dir + "/spill",
                                          .status_interval = std::chrono::milliseconds(500)}),
                      "capture");
  std::atomic<bool> done{false};
  std::thread generator([&] {
    auto writer = Must(pg::Connection::Open(conninfo), "writer");
    const int64_t transactions = rate * seconds / 10;
    const auto period = std::chrono::nanoseconds(1000000000LL * 10 / rate);
    const auto start = Clock::now();
    for (int64_t t = 0; t < transactions; ++t) {
      std::this_thread::sleep_until(start + period * t);
      const int64_t a = t * 6 + 1;
      Must(writer.Exec(fmt::format(
               "BEGIN; INSERT INTO orders SELECT i, i % 5000, 'new', i % 1000 + 0.99, i % 9 + 1, "
               "'note ' || i, now(), now() FROM generate_series({0}, {1}) i; UPDATE orders SET "
               "status = 'paid', updated_at = now() WHERE id BETWEEN {2} AND {3}; DELETE FROM "
               "orders WHERE id = {4}; COMMIT",
               a, a + 5, std::max<int64_t>(a - 30, -10), std::max<int64_t>(a - 28, -8), a - 60)),
           "workload");
    }
    done = true;
  });
  const auto start = Clock::now();
  while (!done || sink->mirror().has_pending() || out.visible_ms.size() < out.received_ms.size()) {
    Must(capture->Poll(std::chrono::milliseconds(20),
                       [&](pg::CommittedTransaction&& txn) {
                         out.received_ms.push_back(
                             static_cast<double>(UnixNowMicros() -
                                                 PgTimeToUnixMicros(txn.info().commit_time)) /
                             1e3);
                         out.changes += static_cast<int64_t>(txn.change_count());
                         pipeline::Sink* const sinks[] = {sink.get()};
                         return pipeline::Deliver(typer, txn, sinks);
                       }),
         "poll");
    Must(sink->FlushIfDue(), "merge");
    capture->Confirm(sink->durable_end());
    if (done && Clock::now() - start > std::chrono::seconds(seconds + 30)) break;
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  generator.join();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t changes = 1000000, batch = 5000, rate = 5000;
  int seconds = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--changes=")) changes = std::stoll(argv[i] + 10);
    if (arg.starts_with("--batch=")) batch = std::stoll(argv[i] + 8);
    if (arg.starts_with("--rate=")) rate = std::stoll(argv[i] + 7);
    if (arg.starts_with("--seconds=")) seconds = std::stoi(argv[i] + 10);
  }
  const std::string dir = std::filesystem::temp_directory_path() / "walden-mirror-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  fmt::print(
      "merge throughput, {} changes in batches of {} (8-column orders table, 100k rows "
      "before):\n",
      changes, batch);
  const double ceiling = AppenderCeiling(changes, batch, dir);
  for (const Mix& mix : {Mix{"insert only", 100, 0, 0}, Mix{"mixed 50/30/20", 50, 30, 20},
                         Mix{"update heavy 10/80/10", 10, 80, 10}}) {
    const double rate_cs = MergeThroughput(mix, changes, batch, dir);
    fmt::print("  {:<24} {:>10.0f} changes/s  ({:.2f}x of the appender ceiling)\n", mix.name,
               rate_cs, rate_cs / ceiling);
  }
  fmt::print("  {:<24} {:>10.0f} rows/s     (reference: DuckDB appender, plain table)\n",
             "appender ceiling", ceiling);
  const Latency latency = MeasureLatency(rate, seconds, dir);
  fmt::print(
      "\nlatency at {} changes/s for {} s ({} transactions, {} changes, PostgreSQL on "
      "this machine, apply_interval 100 ms):\n",
      rate, seconds, latency.visible_ms.size(), latency.changes);
  auto line = [](const char* name, const std::vector<double>& v) {
    fmt::print("  {:<28} p50 {:>7.1f} ms  p90 {:>7.1f} ms  p99 {:>7.1f} ms  max {:>7.1f} ms\n",
               name, Percentile(v, 0.5), Percentile(v, 0.9), Percentile(v, 0.99),
               Percentile(v, 1.0));
  };
  line("commit -> mirror visible", latency.visible_ms);
  line("commit -> received (ref.)", latency.received_ms);
  std::filesystem::remove_all(dir);
  return 0;
}
