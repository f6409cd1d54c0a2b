// End-to-end scenarios of `walden run` (the real binary, archive to a local folder and the
// DuckDB mirror) against a throwaway PostgreSQL, each beside its reference in the same run:
//
//   throughput  N changes (inserts, updates, deletes on an 8-column orders table, transactions
//               of 1 to 100,000 rows) held by two slots created at the same point; pg_recvlogical
//               drains one to /dev/null, walden the other (until the slot's confirmed LSN
//               reaches the end). Peak RSS of walden during the run.
//   replay      `walden mirror rebuild` from that archive alone, changes/s.
//   latency     steady load at each rate for S seconds: commit→mirror and commit→archive
//               p50/p90/p99/max from walden's own /metrics histograms (per transaction).
//   big_txn     one transaction of M inserted rows: peak RSS of a fresh walden process.
//
// walden runs with its defaults except `archive.flush_interval = 1s` (the default 10 s would
// dominate commit→archive and the tail of a throughput run); latency runs once per value of
// --flush-intervals (archive flushes must not disturb commit→mirror at any cadence).
//
//   pipeline_bench [--changes=N] [--rates=1000,5000,20000] [--seconds=S] [--big-txn=M]
//                  [--json=FILE]     (one JSON object per scenario, appended)
//                  [--only=throughput|latency|big_txn]   (throughput includes replay)
//                  [--flush-intervals=1s,10s]   (archive.flush_interval of the latency runs)
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "common/metrics_text.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "pg/connection.h"
#include "pg/local_server.h"
#include "pipeline/runner.h"
#include "server/http_server.h"

namespace {

using namespace walden;
using bench::Must;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

struct Options {
  int64_t changes = 2000000;
  std::vector<int64_t> rates = {1000, 5000, 20000};
  int seconds = 60;
  int64_t big_txn = 5000000;
  std::string json;
  std::string only;  // one scenario (big_txn, latency) instead of all
  std::vector<std::string> flush_intervals = {"1s"};
};

// archive.flush_interval of the walden processes started from now on.
std::string flush_interval = "1s";

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The benchmark suite's orders table, and the publication both readers use.
void CreateOrders(pg::Connection& conn) {
  Must(conn.Exec("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status "
                 "text NOT NULL, amount numeric(12,2) NOT NULL, currency char(3) NOT NULL, "
                 "created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz, note "
                 "text); CREATE PUBLICATION bench FOR TABLE orders"),
       "create orders");
}

// One transaction: `size` changes, 60 % inserts of new ids, 30 % updates, 10 % deletes of
// the rows it inserted. Returns the changes made.
int64_t OrdersTransaction(pg::Connection& conn, int64_t size, int64_t& next_id) {
  const int64_t inserts = std::max<int64_t>(1, size * 6 / 10);
  const int64_t updates = std::min(inserts, size * 3 / 10);
  const int64_t deletes =
      std::min(inserts - updates, std::max<int64_t>(0, size - inserts - updates));
  const int64_t first = next_id;
  next_id += inserts;
  Must(conn.Exec(fmt::format(
           "BEGIN; INSERT INTO orders (id, customer_id, status, amount, currency, note) SELECT i, "
           "1 + i % 50000, 'new', (i % 100000) / 7.0, 'EUR', CASE WHEN i % 10 = 0 THEN 'gift "
           "wrap ' || i END FROM generate_series({0}, {1}) i; UPDATE orders SET status = 'paid', "
           "updated_at = now() WHERE id >= {0} AND id < {2}; DELETE FROM orders WHERE id > {1} - "
           "{3} AND id <= {1}; COMMIT",
           first, next_id - 1, first + updates, deletes)),
       "workload");
  return inserts + updates + deletes;
}

int64_t NextId(pg::Connection& conn) {
  return std::stoll(Must(conn.QueryValue("SELECT coalesce(max(id), 0) + 1 FROM orders"), "max"));
}

Subprocess StartWalden(const pg::LocalServer& server, const std::string& data_dir,
                       const std::string& slot) {
  return Must(Subprocess::Spawn(
                  {.argv = {WALDEN_BINARY, "run", "--source", server.AdminConninfo(), "--data-dir",
                            data_dir, "--source-slot", slot, "--source-publication", "bench",
                            "--snapshot-mode", "never", "--server-listen", "127.0.0.1:0",
                            "--archive-flush-interval", flush_interval},
                   .stdout_path = data_dir + ".log"}),
              "start walden");
}

// Waits until walden confirmed `lsn` on `slot` (both sinks hold everything before it).
void WaitConfirmed(pg::Connection& conn, const std::string& slot, const std::string& lsn,
                   Subprocess& walden) {
  const std::string sql = fmt::format(
      "SELECT coalesce(confirmed_flush_lsn >= '{}'::pg_lsn, false) FROM pg_replication_slots "
      "WHERE slot_name = '{}'",
      lsn, slot);
  while (Must(conn.QueryValue(sql), "slot position") != "t") {
    if (!walden.Running()) {
      fmt::print(stderr, "walden stopped early (exit {})\n", walden.ExitCode().value_or(-1));
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string MetricsOf(const std::string& data_dir) {
  auto address = pipeline::RunningAddress(data_dir);
  if (!address) return "";
  auto result = server::Get(*address, "/metrics");
  if (!result || result->status != 200) return "";
  return result->body;
}

// The value of an unlabelled sample (`name value`) in Prometheus text; 0 when absent.
double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

// A walden that streams and answers /metrics.
Subprocess StartServing(const pg::LocalServer& server, const std::string& data_dir) {
  Subprocess walden = StartWalden(server, data_dir, "walden");
  while (MetricsOf(data_dir).empty()) {
    if (!walden.Running()) {
      fmt::print(stderr, "walden did not start (exit {}); see {}.log\n",
                 walden.ExitCode().value_or(-1), data_dir);
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return walden;
}

Json Throughput(const pg::LocalServer& server, pg::Connection& conn, const Options& options,
                const std::string& dir) {
  for (const char* slot : {"reference", "walden"}) {
    Must(
        conn.Exec(fmt::format("SELECT pg_create_logical_replication_slot('{}', 'pgoutput')", slot)),
        "slot");
  }
  std::mt19937 random(42);
  int64_t done = 0, next_id = 1, transactions = 0;
  while (done < options.changes) {
    const int64_t size = std::min<int64_t>(
        options.changes - done, std::array{1, 10, 100, 1000, 10000, 100000}[random() % 6]);
    done += OrdersTransaction(conn, size, next_id);
    ++transactions;
  }
  const std::string end = Must(conn.QueryValue("SELECT pg_current_wal_lsn()"), "lsn");
  // CPU accounting: the machine's busy time during each reader's run, what the reader itself
  // used, and the rest (PostgreSQL: walsender and decoding; the bench idles meanwhile).
  const bench::CpuTimes reference_before = bench::ReadCpuTimes();
  const double children_before = bench::ChildrenCpu();
  auto started = Clock::now();
  auto reference = RunCommand(
      {.argv = {server.bin_dir() + "/pg_recvlogical", "-d", server.AdminConninfo(), "--slot",
                "reference", "--start", "--endpos", end, "-o", "proto_version=1", "-o",
                "publication_names=bench", "-f", "/dev/null", "--no-loop"}},
      std::chrono::hours(1));
  const double reference_seconds = Seconds(started);
  if (!reference || reference->exit_code != 0) {
    fmt::print(stderr, "pg_recvlogical failed: {}\n",
               reference ? reference->output : reference.error().message);
    std::exit(1);
  }
  const bench::CpuTimes reference_after = bench::ReadCpuTimes();
  const double recvlogical_cpu = bench::ChildrenCpu() - children_before;
  started = Clock::now();
  Subprocess walden = StartWalden(server, dir, "walden");
  WaitConfirmed(conn, "walden", end, walden);
  const double walden_seconds = Seconds(started);
  const bench::CpuTimes walden_after = bench::ReadCpuTimes();
  const std::map<std::string, double> threads = bench::ThreadCpu(walden.pid());
  const double walden_cpu = bench::ProcessCpu(walden.pid());
  const std::string metrics = MetricsOf(dir);
  const int64_t rss = bench::PeakRss(walden.pid());
  walden.Stop(SIGTERM, std::chrono::seconds(60));
  const double millions = static_cast<double>(done) / 1e6;
  auto per_million = [&](double seconds) { return std::round(seconds / millions * 100) / 100; };
  Json walden_threads = Json::object();
  for (const auto& [name, seconds] : threads) walden_threads[name] = per_million(seconds);
  const double bench_cpu = walden_after.process - reference_after.process;
  const Json cpu = {
      {"walden", per_million(walden_cpu)},
      {"walden_by_thread", walden_threads},
      // Wall time of the stages the run loop times (merges run on the loop thread; flushes
      // on wal-flush threads, gone by now, so also in "walden" but in no thread).
      {"mirror_merges_wall", per_million(MetricValue(metrics, "walden_mirror_merge_seconds_sum"))},
      {"archive_flushes_wall",
       per_million(MetricValue(metrics, "walden_archive_flush_seconds_sum"))},
      {"postgres_for_walden", per_million(walden_after.machine_busy - reference_after.machine_busy -
                                          walden_cpu - bench_cpu)},
      {"pg_recvlogical", per_million(recvlogical_cpu)},
      {"postgres_for_pg_recvlogical",
       per_million(reference_after.machine_busy - reference_before.machine_busy - recvlogical_cpu -
                   (reference_after.process - reference_before.process))}};
  fmt::print("CPU core-seconds per million changes: {}\n", cpu.dump());
  return {{"scenario", "throughput"},
          {"changes", done},
          {"transactions", transactions},
          {"walden_changes_per_s", static_cast<double>(done) / walden_seconds},
          {"reference_changes_per_s", static_cast<double>(done) / reference_seconds},
          {"ratio", reference_seconds / walden_seconds},
          {"walden_peak_rss_bytes", rss},
          {"cpu_seconds_per_million_changes", cpu}};
}

Json Replay(const std::string& dir, int64_t changes) {
  std::filesystem::remove(dir + "/mirror.duckdb");
  std::filesystem::remove(dir + "/mirror.duckdb.wal");
  const auto started = Clock::now();
  auto rebuilt = RunCommand({.argv = {WALDEN_BINARY, "mirror", "rebuild", "--data-dir", dir}},
                            std::chrono::hours(1));
  const double seconds = Seconds(started);
  if (!rebuilt || rebuilt->exit_code != 0) {
    fmt::print(stderr, "rebuild failed: {}\n", rebuilt ? rebuilt->output : rebuilt.error().message);
    std::exit(1);
  }
  return {{"scenario", "replay"},
          {"changes", changes},
          {"changes_per_s", static_cast<double>(changes) / seconds},
          {"seconds", seconds}};
}

// Steady load: transactions of 10 changes, paced to `rate` changes/s; with `verify`,
// `walden verify --all` runs again and again meanwhile (it must not slow the stream).
Json Latency(const pg::LocalServer& server, pg::Connection& conn, const std::string& dir,
             int64_t rate, int seconds, bool verify = false) {
  Subprocess walden = StartServing(server, dir);
  int64_t next_id = NextId(conn);
  const auto before = ParseHistograms(MetricsOf(dir));
  std::atomic<bool> loaded{false};
  int verify_rounds = 0;
  std::thread verifier([&] {
    while (verify && !loaded) {
      Subprocess round =
          Must(Subprocess::Spawn({.argv = {WALDEN_BINARY, "verify", "--all", "--data-dir", dir},
                                  .stdout_path = dir + ".verify.log"}),
               "start verify");
      while (!loaded && round.Running())
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (round.Running()) {  // the load ended first: a client that goes away stops it
        round.Stop(SIGTERM, std::chrono::seconds(10));
        break;
      }
      if (round.ExitCode() != 0) {
        fmt::print(stderr, "verify failed (exit {}); see {}.verify.log\n",
                   round.ExitCode().value_or(-1), dir);
        std::exit(1);
      }
      ++verify_rounds;
    }
  });
  const auto started = Clock::now();
  const auto period = std::chrono::duration<double>(10.0 / static_cast<double>(rate));
  int64_t sent = 0, transactions = 0;
  while (Seconds(started) < seconds) {
    sent += OrdersTransaction(conn, 10, next_id);
    ++transactions;
    std::this_thread::sleep_until(started + std::chrono::duration_cast<Clock::duration>(
                                                period * static_cast<double>(transactions)));
  }
  const double load_seconds = Seconds(started);
  const std::string end = Must(conn.QueryValue("SELECT pg_current_wal_lsn()"), "lsn");
  WaitConfirmed(conn, "walden", end, walden);
  const std::string final_metrics = MetricsOf(dir);
  const auto after = ParseHistograms(final_metrics);
  loaded = true;
  verifier.join();  // the round in flight ends first: walden serves it
  walden.Stop(SIGTERM, std::chrono::seconds(60));
  Json out = {{"scenario", verify ? "latency_verify" : "latency"},
              {"target_changes_per_s", rate},
              {"achieved_changes_per_s", static_cast<double>(sent) / load_seconds},
              {"transactions", transactions}};
  if (verify) {
    out["verify_rounds"] = verify_rounds;
    // Chunks compared while the load ran (a round of a large table outlasts the load).
    const std::string key = "walden_verify_chunks_total{result=\"equal\"} ";
    const size_t at = final_metrics.find(key);
    out["verify_chunks"] =
        at == std::string::npos ? 0 : std::stoll(final_metrics.substr(at + key.size()));
  }
  for (const char* name : {"walden_commit_to_mirror_seconds", "walden_commit_to_archive_seconds"}) {
    const Buckets delta = Delta(after.at(name), before.at(name));
    const std::string key = std::string(name).substr(7);  // commit_to_…_seconds
    out[key] = {{"p50", delta.Quantile(0.5)},
                {"p90", delta.Quantile(0.9)},
                {"p99", delta.Quantile(0.99)},
                {"max_le", delta.MaxBound()},
                {"buckets", delta.ToJson()}};
  }
  return out;
}

Json BigTransaction(const pg::LocalServer& server, pg::Connection& conn, const std::string& dir,
                    int64_t rows) {
  Subprocess walden = StartServing(server, dir);
  int64_t next_id = NextId(conn);
  Must(conn.Exec(fmt::format(
           "INSERT INTO orders (id, customer_id, status, amount, currency) SELECT i, i % 50000, "
           "'bulk', 1, 'EUR' FROM generate_series({}, {}) i",
           next_id, next_id + rows - 1)),
       "big transaction");
  const std::string end = Must(conn.QueryValue("SELECT pg_current_wal_lsn()"), "lsn");
  const auto started = Clock::now();
  WaitConfirmed(conn, "walden", end, walden);
  const double seconds = Seconds(started);
  const int64_t rss = bench::PeakRss(walden.pid());
  walden.Stop(SIGTERM, std::chrono::seconds(60));
  return {{"scenario", "big_txn"},
          {"rows", rows},
          {"seconds", seconds},
          {"walden_peak_rss_bytes", rss}};
}

Options Parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string value = arg.substr(arg.find('=') + 1);
    if (arg.starts_with("--changes=")) options.changes = std::stoll(value);
    if (arg.starts_with("--seconds=")) options.seconds = std::stoi(value);
    if (arg.starts_with("--big-txn=")) options.big_txn = std::stoll(value);
    if (arg.starts_with("--json=")) options.json = value;
    if (arg.starts_with("--only=")) options.only = value;
    if (arg.starts_with("--flush-intervals=")) options.flush_intervals = Split(value, ',');
    if (arg.starts_with("--rates=")) {
      options.rates.clear();
      for (const std::string& rate : Split(value, ',')) options.rates.push_back(std::stoll(rate));
    }
    static constexpr std::string_view kFlags[] = {
        "--changes=", "--seconds=",         "--big-txn=", "--json=",
        "--only=",    "--flush-intervals=", "--rates="};
    if (std::ranges::none_of(kFlags,
                             [&](std::string_view flag) { return arg.starts_with(flag); })) {
      fmt::print(stderr, "unknown argument {}; see the comment at the top of {}\n", arg, __FILE__);
      std::exit(2);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  auto server = Must(pg::LocalServer::Start({}), "server");
  auto conn = Must(pg::Connection::Open(server->AdminConninfo()), "connect");
  CreateOrders(conn);
  const std::string dir =
      std::filesystem::temp_directory_path() / fmt::format("walden-pipeline-bench-{}", getpid());
  std::filesystem::remove_all(dir);
  std::vector<Json> results;
  if (options.only.empty() || options.only == "throughput") {
    results.push_back(Throughput(*server, conn, options, dir));
    results.push_back(Replay(dir, results[0]["changes"].get<int64_t>()));
  } else {
    Must(conn.Exec("SELECT pg_create_logical_replication_slot('walden', 'pgoutput')"), "slot");
  }
  if (options.only.empty() || options.only == "latency") {
    for (const std::string& interval : options.flush_intervals) {
      flush_interval = interval;
      for (int64_t rate : options.rates) {
        results.push_back(Latency(*server, conn, dir, rate, options.seconds));
        results.back()["flush_interval"] = interval;
      }
    }
    flush_interval = "1s";
    // The same load at 5,000 changes/s (or the highest rate asked) with verify running.
    const int64_t rate =
        std::ranges::find(options.rates, 5000) != options.rates.end() ? 5000 : options.rates.back();
    results.push_back(Latency(*server, conn, dir, rate, options.seconds, /*verify=*/true));
  }
  if (options.only.empty() || options.only == "big_txn") {
    results.push_back(BigTransaction(*server, conn, dir, options.big_txn));
  }
  for (Json& result : results) result["postgres"] = server->major_version();
  std::ofstream json;
  if (!options.json.empty()) json.open(options.json, std::ios::app);
  for (const Json& result : results) {
    fmt::print("{}\n", result.dump());
    if (json.is_open()) json << result.dump() << "\n";
  }
  std::filesystem::remove_all(dir);
  return 0;
}
