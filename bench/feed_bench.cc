// The live feeds' figures (design §14), each beside its reference in the same run:
//
//   feed_bench [--rate=N] [--seconds=N] [--clients=N] [--json=FILE]
//
// 1. Commit → feed event latency: a table written at `rate` rows/s (10 transactions per
//    100 ms), one Server-Sent Events client on /api/feed reading every event (what a
//    browser's EventSource gets; the client parses the SSE stream itself), latency = arrival
//    − the event's commit_time; beside commit → mirror from walden's own histogram over
//    the same window.
// 2. walden's CPU (user + system, from /proc) over the same load with `clients` feed clients
//    connected versus none.
#include <fmt/core.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/bench_util.h"
#include "common/metrics_text.h"
#include "common/subprocess.h"
#include "common/units.h"
#include "pg/connection.h"
#include "pg/local_server.h"
#include "pipeline/http_api.h"
#include "server/http_server.h"

namespace {

using namespace walden;
using bench::Must;
using Json = nlohmann::ordered_json;

struct Options {
  int rate = 1000;
  int seconds = 30;
  int clients = 50;
};

Options Parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string_view name) { return std::stoi(arg.substr(name.size())); };
    if (arg.starts_with("--rate=")) options.rate = value("--rate=");
    if (arg.starts_with("--seconds=")) options.seconds = value("--seconds=");
    if (arg.starts_with("--clients=")) options.clients = value("--clients=");
  }
  return options;
}

// One SSE client: every event's commit → arrival latency (when `latencies` is given).
class FeedClient {
 public:
  FeedClient(const std::string& address, std::vector<double>* latencies)
      : client_(address.substr(0, address.rfind(':')),
                std::stoi(address.substr(address.rfind(':') + 1))),
        thread_([this, latencies] {
          std::string buffer;
          client_.Get("/api/feed?table=public.ticks", [&](const char* data, size_t size) {
            buffer.append(data, size);
            for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
              const size_t at = buffer.find("\ndata: ");
              if (latencies && at < end) {
                const auto event = nlohmann::json::parse(buffer.substr(at + 7, end - at - 7));
                const double ms =
                    static_cast<double>(UnixNowMicros() - ParseUtc(event["commit_time"])) / 1000;
                std::lock_guard lock(mutex_);
                latencies->push_back(ms);
              }
              ++events_;
              buffer.erase(0, end + 2);
            }
            return !stop_;
          });
        }) {}
  ~FeedClient() {
    stop_ = true;
    client_.stop();
    thread_.join();
  }
  uint64_t events() const { return events_; }
  static std::mutex mutex_;

 private:
  // "2026-12-02T09:37:19.194503Z" → µs since 1970.
  static int64_t ParseUtc(const std::string& text) {
    std::tm tm{};
    strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    return static_cast<int64_t>(timegm(&tm)) * 1000000 + std::stoll(text.substr(20, 6));
  }
  httplib::Client client_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> events_{0};
  std::thread thread_;
};
std::mutex FeedClient::mutex_;

// `rate` rows/s for `seconds`, as 10 transactions every 100 ms.
void Write(pg::Connection& conn, int rate, int seconds, int64_t& next_id) {
  const int per_txn = std::max(1, rate / 100);
  auto next = std::chrono::steady_clock::now();
  const auto until = next + std::chrono::seconds(seconds);
  while (next < until) {
    Must(conn.Exec(fmt::format("INSERT INTO ticks SELECT g, now() FROM generate_series({}, {}) g",
                               next_id, next_id + per_txn - 1)),
         "insert");
    next_id += per_txn;
    next += std::chrono::milliseconds(10);
    std::this_thread::sleep_until(next);
  }
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(q * static_cast<double>(values.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  const std::string json = bench::JsonPath(argc, argv);
  auto server = Must(pg::LocalServer::Start({}), "server");
  auto conn = Must(pg::Connection::Open(server->AdminConninfo()), "connect");
  Must(conn.Exec("CREATE TABLE ticks (id bigint PRIMARY KEY, sent_at timestamptz)"), "table");
  const std::string dir =
      std::filesystem::temp_directory_path() / fmt::format("walden-feed-bench-{}", getpid());
  std::filesystem::remove_all(dir);
  Subprocess walden = Must(
      Subprocess::Spawn({.argv = {WALDEN_BINARY, "run", "--source", server->AdminConninfo(),
                                  "--data-dir", dir, "--server-listen", "127.0.0.1:0",
                                  "--server-max-feed-clients", std::to_string(options.clients + 1)},
                         .stdout_path = dir + ".log"}),
      "start walden");
  std::string address;
  while (address.empty()) {
    if (auto found = pipeline::RunningAddress(dir)) address = *found;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto metrics = [&] { return ParseHistograms(server::Get(address, "/metrics")->body); };
  int64_t next_id = 1;
  Write(conn, options.rate, 3, next_id);  // warm up
  // CPU with no client.
  double cpu = bench::ProcessCpu(walden.pid());
  Write(conn, options.rate, options.seconds, next_id);
  const double idle_cpu = (bench::ProcessCpu(walden.pid()) - cpu) / options.seconds;
  // Latency with one reading client, then CPU with `clients` more.
  std::vector<double> latencies;
  auto reader = std::make_unique<FeedClient>(address, &latencies);
  while (server::Get(address, "/metrics")->body.find("\nwalden_feed_clients 1\n") ==
         std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto mirror_before = metrics()["walden_commit_to_mirror_seconds"];
  Write(conn, options.rate, options.seconds, next_id);
  const Buckets mirror = Delta(metrics()["walden_commit_to_mirror_seconds"], mirror_before);
  std::vector<std::unique_ptr<FeedClient>> crowd;
  for (int i = 0; i < options.clients; ++i) {
    crowd.push_back(std::make_unique<FeedClient>(address, nullptr));
  }
  // Every client subscribed (walden counts them) before the measured writes.
  const std::string connected = fmt::format("\nwalden_feed_clients {}\n", options.clients + 1);
  while (server::Get(address, "/metrics")->body.find(connected) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  cpu = bench::ProcessCpu(walden.pid());
  Write(conn, options.rate, options.seconds, next_id);
  const double crowd_cpu = (bench::ProcessCpu(walden.pid()) - cpu) / options.seconds;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last events on their way
  uint64_t least = UINT64_MAX;
  for (const auto& client : crowd) least = std::min(least, client->events());
  crowd.clear();
  reader.reset();
  walden.Stop(SIGTERM, std::chrono::seconds(30));
  std::filesystem::remove_all(dir);
  std::vector<double> copy;
  {
    std::lock_guard lock(FeedClient::mutex_);
    copy = latencies;
  }
  const Json result{{"scenario", "feed"},
                    {"rate", options.rate},
                    {"seconds", options.seconds},
                    {"events", copy.size()},
                    {"feed_p50_ms", Percentile(copy, 0.5)},
                    {"feed_p99_ms", Percentile(copy, 0.99)},
                    {"mirror_p50_ms", mirror.Quantile(0.5) * 1000},
                    {"mirror_p99_ms", mirror.Quantile(0.99) * 1000},
                    {"clients", options.clients},
                    {"fewest_events_per_client", least},
                    {"cpu_no_clients", idle_cpu},
                    {"cpu_with_clients", crowd_cpu}};
  fmt::print("{}\n", result.dump());
  bench::AppendJson(json, result.dump());
  return 0;
}
