// `walden demo`: a throwaway PostgreSQL with a shop, `walden run` on it, and the figures a
// user would look at. The demo watches walden from outside, as a user does: its figures
// come from /metrics and its queries go through /api/query, never through the run loop.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/demo_fleet.h"
#include "cli/demo_shop.h"
#include "cli/stop_signal.h"
#include "common/metrics_text.h"
#include "common/strings.h"
#include "common/units.h"
#include "pg/connection.h"
#include "pg/doctor.h"
#include "pg/local_server.h"
#include "pipeline/http_api.h"
#include "pipeline/runner.h"
#include "server/http_server.h"

namespace walden::cli {
namespace {

using Clock = std::chrono::steady_clock;
using Pairs = std::map<std::string, std::string>;

// The part of /metrics the demo shows.
struct Figures {
  uint64_t changes = 0;
  uint64_t transactions = 0;
  int64_t archive_bytes = 0;
  Buckets latency;  // commit → visible in the mirror
};

Figures ParseFigures(const std::string& text) {
  Figures out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.rfind(' ');
    if (line.starts_with("#") || space == std::string::npos) continue;
    const std::string name = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    if (name == "walden_changes_total") out.changes = ParseUint64(value).value_or(0);
    if (name == "walden_transactions_total") out.transactions = ParseUint64(value).value_or(0);
    if (name == "walden_archive_bytes") out.archive_bytes = ParseInt64(value).value_or(0);
  }
  auto histograms = ParseHistograms(text);
  if (auto it = histograms.find("walden_commit_to_mirror_seconds"); it != histograms.end()) {
    out.latency = std::move(it->second);
  }
  return out;
}

// "category,value" rows of a CSV answer, header skipped.
std::map<std::string, std::string> CsvPairs(const std::string& csv) {
  std::map<std::string, std::string> pairs;
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    const size_t comma = line.find(',');
    if (comma != std::string::npos) pairs[line.substr(0, comma)] = line.substr(comma + 1);
  }
  return pairs;
}

// walden as a user reaches it: the address it published, /metrics and /api/query.
class Walden {
 public:
  explicit Walden(std::string data_dir) : data_dir_(std::move(data_dir)) {}
  Result<Figures> Metrics() {
    auto response =
        Call([](const std::string& address) { return server::Get(address, "/metrics", ""); });
    if (!response) return std::unexpected(response.error());
    return ParseFigures(*response);
  }
  Result<std::map<std::string, std::string>> Query(const std::string& sql) {
    auto response = Call([&](const std::string& address) {
      return server::Post(address, "/api/query", {{"format", "csv"}}, sql, "");
    });
    if (!response) return std::unexpected(response.error());
    return CsvPairs(*response);
  }

 private:
  template <typename Request>
  Result<std::string> Call(const Request& request) {
    if (address_.empty()) {
      auto address = pipeline::RunningAddress(data_dir_);
      if (!address) return std::unexpected(address.error());
      address_ = *address;
    }
    auto response = request(address_);
    if (!response) return std::unexpected(response.error());
    if (response->status != 200) return Fail(ErrorKind::kIo, OneLine(response->body));
    return response->body;
  }
  std::string data_dir_;
  std::string address_;
};

// What the demo prints while it runs and at the end. Thread-safety: one thread.
class Reporter {
 public:
  Reporter(const DemoOptions& options, const std::string& dir) : options_(options), walden_(dir) {}
  // One line of figures for the last window (nothing when walden is not serving yet).
  void Window(const demo::ShopGenerator* generator);
  // The whole run; returns false when the mirror's revenue differs from the source's.
  bool Summary(const demo::ShopGenerator& generator, double seconds, pg::Connection& source);

 private:
  const DemoOptions& options_;
  Walden walden_;
  Clock::time_point last_ = Clock::now();
  Figures last_figures_;
  uint64_t last_committed_ = 0;
};

void Reporter::Window(const demo::ShopGenerator* generator) {
  auto figures = walden_.Metrics();
  if (!figures) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - last_).count();
  const uint64_t committed = generator ? generator->committed() : 0;
  const double rate = static_cast<double>(figures->changes - last_figures_.changes) / elapsed;
  const double source_rate = static_cast<double>(committed - last_committed_) / elapsed;
  const Buckets window = Delta(figures->latency, last_figures_.latency);
  const double p50 = window.Quantile(0.5) * 1000, p99 = window.Quantile(0.99) * 1000;
  last_ = Clock::now();
  last_figures_ = *figures;
  last_committed_ = committed;
  const auto revenue = walden_.Query(demo::kRevenueLastFiveMinutesSql).value_or(Pairs{});
  if (options_.json) {
    nlohmann::ordered_json line{{"transactions_per_s", static_cast<int64_t>(source_rate)},
                                {"changes_per_s", static_cast<int64_t>(rate)},
                                {"transactions", figures->transactions},
                                {"commit_to_mirror_p50_ms", p50},
                                {"commit_to_mirror_p99_ms", p99},
                                {"archive_bytes", figures->archive_bytes},
                                {"revenue_last_5_min", revenue}};
    fmt::print("{}\n", line.dump());
  } else {
    std::string categories;
    for (const auto& [name, value] : revenue) categories += fmt::format("  {} {}", name, value);
    fmt::print(
        "  {:>5.0f} tx/s {:>6.0f} changes/s  commit->mirror p50 {:>5.1f} ms p99 {:>5.1f} ms  "
        "archive {:>8}  revenue/5 min:{}\n",
        source_rate, rate, p50, p99, FormatSize(figures->archive_bytes), categories);
  }
  // Said at once: a demo that silently generates less than it promised misleads.
  if (generator && source_rate < 0.9 * options_.rate && committed > 0 && !generator->finished()) {
    fmt::print("  the generator is behind: {:.0f} of {} transactions/s{}\n", source_rate,
               options_.rate,
               generator->failed() ? " (" + std::to_string(generator->failed()) +
                                         " failed, last: " + generator->last_error() + ")"
                                   : std::string());
  }
  std::fflush(stdout);
}

bool Reporter::Summary(const demo::ShopGenerator& generator, double seconds,
                       pg::Connection& source) {
  // The mirror is a fraction of a second behind the source: wait for it (a condition, not a
  // sleep), then compare the revenue per category on both.
  std::map<std::string, std::string> expected, mirrored;
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  do {
    if (auto rows = source.Exec(demo::kRevenueSql); rows) {
      expected.clear();
      for (int r = 0; r < rows->rows(); ++r) {
        expected[std::string(rows->Value(r, 0))] = std::string(rows->Value(r, 1));
      }
    }
    mirrored = walden_.Query(demo::kRevenueSql).value_or(Pairs{});
    if (!expected.empty() && mirrored == expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (Clock::now() < deadline);
  const bool matches = !expected.empty() && mirrored == expected;
  const Figures figures = walden_.Metrics().value_or(Figures{});
  const double rate = static_cast<double>(generator.committed()) / seconds;
  const double p50 = figures.latency.Quantile(0.5) * 1000;
  const double p99 = figures.latency.Quantile(0.99) * 1000;
  if (options_.json) {
    nlohmann::ordered_json summary{{"requested_transactions_per_s", options_.rate},
                                   {"transactions_per_s", rate},
                                   {"transactions", generator.committed()},
                                   {"failed", generator.failed()},
                                   {"connections", generator.connections()},
                                   {"seconds", seconds},
                                   {"commit_to_mirror_p50_ms", p50},
                                   {"commit_to_mirror_p99_ms", p99},
                                   {"column_added", generator.altered()},
                                   {"revenue", expected},
                                   {"revenue_mirror_equals_source", matches}};
    fmt::print("{}\n", nlohmann::ordered_json{{"summary", summary}}.dump());
  } else {
    fmt::print(
        "\n  the run: {} transactions in {:.1f} s = {:.0f} transactions/s (asked for {}; {} "
        "connections{})\n  commit->mirror over the run: p50 {:.1f} ms, p99 {:.1f} ms ({} "
        "transactions; estimated within the histogram's buckets)\n",
        generator.committed(), seconds, rate, options_.rate, generator.connections(),
        generator.failed() ? fmt::format(", {} failed", generator.failed()) : "", p50, p99,
        figures.latency.count());
    std::string categories;
    for (const auto& [name, value] : expected) categories += fmt::format(" {} {}", name, value);
    fmt::print("  revenue per category, all orders:{}\n  the mirror {}\n", categories,
               matches ? "says the same as the source" : "DIFFERS from the source");
  }
  if (!matches) {
    std::string got;
    for (const auto& [name, value] : mirrored) got += fmt::format(" {} {}", name, value);
    fmt::print(stderr, "walden demo: the mirror's revenue per category is{} (source above)\n",
               got.empty() ? " missing" : got);
  }
  std::fflush(stdout);
  return matches;
}

// The demo's pipeline configuration: everything local, under <data_dir>/demo.
Config DemoConfig(const Config& base, const std::string& dir, const std::string& conninfo) {
  Config config = base;
  config.data_dir = dir;
  config.source.url = conninfo;
  config.source.slot = "walden_demo";
  config.source.publication = "walden";
  config.source.tables.clear();
  config.archive = ArchiveConfig{.url = "file://" + dir + "/archive",
                                 .flush_interval = std::chrono::seconds(2),
                                 .flush_size = base.archive.flush_size,
                                 .compact_target_size = base.archive.compact_target_size,
                                 .orphan_grace = base.archive.orphan_grace};
  config.mirror.path = dir + "/mirror.duckdb";
  config.server_listen = "127.0.0.1:0";
  return config;
}

void PrintEpilogue(const std::string& dir) {
  fmt::print(
      "\n  everything walden captured is in {}:\n\n"
      "    walden status --data-dir {}\n"
      "    walden query --data-dir {} \"SELECT status, count(*), sum(total) FROM public.orders "
      "GROUP BY ALL\"\n"
      "    walden query --data-dir {} \"SELECT _walden_op, count(*) FROM history.public.orders "
      "WHERE _walden_commit_ts > now() - INTERVAL 1 HOUR GROUP BY ALL\"\n"
      "    walden archive ls --data-dir {}\n"
      "  (plain DuckDB reads {}/archive/tables/*/*/*/*.parquet with union_by_name = true)\n",
      dir, dir, dir, dir, dir, dir);
}

// Beside `walden run`: loads the shop once walden streams, runs the workload, prints the
// figures every two seconds and the summary, then stops the run. Sets `failed` when the
// demo could not show what it promises.
void Direct(const DemoOptions& options, const std::string& dir, const std::string& conninfo,
            const std::atomic<bool>& streaming, std::atomic<bool>& stop,
            std::atomic<bool>& failed) {
  const auto wait = [&](std::chrono::milliseconds period, const auto& done) {
    while (!stop && !done()) std::this_thread::sleep_for(period);
  };
  const auto give_up = [&](const Error& error) {
    fmt::print(stderr, "walden demo: {}\n", error.message);
    failed = true;
    stop = true;
  };
  wait(std::chrono::milliseconds(20), [&] { return streaming.load(); });
  const auto address_deadline = Clock::now() + std::chrono::seconds(5);
  wait(std::chrono::milliseconds(20), [&] {
    if (auto address = pipeline::RunningAddress(dir)) {
      // The revenue per category, rerun every second in the console.
      std::string live;
      for (const unsigned char c : std::string_view(demo::kRevenueLastFiveMinutesSql)) {
        live += std::isalnum(c) || c == '-' || c == '_' || c == '.'
                    ? std::string(1, static_cast<char>(c))
                    : fmt::format("%{:02X}", c);
      }
      fmt::print(
          "  walden serves http://{0}/api/status, /metrics and POST /api/query; the console: "
          "http://{0}/\n  revenue per category, live: http://{0}/#sql/live:{1}\n\n",
          *address, live);
      return true;
    }
    return Clock::now() > address_deadline;
  });
  std::fflush(stdout);
  auto source = pg::Connection::Open(conninfo);
  if (!source) return give_up(source.error());
  if (auto loaded = source->Exec(demo::kShopData); !loaded) return give_up(loaded.error());
  Reporter reporter(options, dir);
  auto generator = demo::ShopGenerator::Start({.conninfo = conninfo,
                                               .rate = options.rate,
                                               .duration = std::chrono::seconds(options.seconds)});
  if (!generator) return give_up(generator.error());
  const auto started = Clock::now();
  auto next_report = started + std::chrono::seconds(2);
  wait(std::chrono::milliseconds(20), [&] {
    if (Clock::now() >= next_report) {
      reporter.Window(generator->get());
      next_report += std::chrono::seconds(2);
    }
    return (*generator)->finished();
  });
  (*generator)->Stop();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (stop) return;  // Ctrl-C: no summary
  if (!reporter.Summary(**generator, seconds, *source)) failed = true;
  stop = true;
}

// Beside `walden run` for the fleet: the console's address, the aircraft publishing, and
// every two seconds what was produced and how fast walden follows.
void DirectFleet(const DemoOptions& options, const std::string& dir, const std::string& conninfo,
                 const std::atomic<bool>& streaming, std::atomic<bool>& stop,
                 std::atomic<bool>& failed) {
  while (!stop && !streaming) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto address = pipeline::RunningAddress(dir);
  for (int i = 0; !address && i < 250 && !stop; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    address = pipeline::RunningAddress(dir);
  }
  if (address) fmt::print("  the fleet on a map: open http://{}/#map\n\n", *address);
  std::fflush(stdout);
  auto fleet = demo::FleetGenerator::Start({.conninfo = conninfo,
                                            .rate = options.rate,
                                            .duration = std::chrono::seconds(options.seconds)});
  if (!fleet) {
    fmt::print(stderr, "walden demo: {}\n", fleet.error().message);
    failed = true;
    stop = true;
    return;
  }
  Walden walden(dir);
  Figures last = walden.Metrics().value_or(Figures{});
  uint64_t produced = 0;
  while (!stop && !(*fleet)->finished()) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const Figures now = walden.Metrics().value_or(last);
    const Buckets window = Delta(now.latency, last.latency);
    fmt::print(
        "  {:>5} positions/s  {:>5} changes/s  commit->mirror p50 {:>5.1f} ms p99 {:>5.1f} ms  "
        "archive {:>8}{}\n",
        ((*fleet)->produced() - produced) / 2, (now.changes - last.changes) / 2,
        window.Quantile(0.5) * 1000, window.Quantile(0.99) * 1000, FormatSize(now.archive_bytes),
        (*fleet)->last_error().empty() ? "" : "  last error: " + (*fleet)->last_error());
    std::fflush(stdout);
    produced = (*fleet)->produced();
    last = now;
  }
  (*fleet)->Stop();
  stop = true;
}

}  // namespace

int DemoCommand(const Config& base, const DemoOptions& given) {
  DemoOptions options = given;
  if (options.rate == 0) options.rate = options.fleet ? 1000 : 500;
  if (options.seconds == 0) options.seconds = options.fleet ? 600 : 30;
  fmt::print("walden demo\n");
  auto server = pg::LocalServer::Start({});
  if (!server) return ReportError(server.error());
  fmt::print("  started PostgreSQL {} on 127.0.0.1:{} (throwaway; removed when the demo ends)\n",
             (*server)->major_version(), (*server)->port());
  auto admin = pg::Connection::Open((*server)->AdminConninfo());
  if (!admin) return ReportError(admin.error());
  const std::string database = options.fleet ? "fleet" : "shop";
  if (auto created = admin->Exec("CREATE DATABASE " + database); !created) {
    return ReportError(created.error());
  }
  const std::string shop = (*server)->AdminConninfo(database);
  auto conn = pg::Connection::Open(shop);
  if (!conn) return ReportError(conn.error());
  if (options.fleet) {
    // Before walden starts, so that it captures the topic through its publication.
    if (auto ok = demo::CreateFleetTopic(*conn); !ok) return ReportError(ok.error());
    fmt::print("  installed the topics API and created the topic {}\n", demo::kFleetTopic);
  } else {
    if (auto loaded = conn->Exec(demo::kShopSchema); !loaded) return ReportError(loaded.error());
    fmt::print("  created the shop schema: categories, products, customers, orders, line_items\n");
  }
  auto report = pg::RunDoctor({.conninfo = shop});
  if (!report) return ReportError(report.error());
  fmt::print("  walden doctor on it: {} ({} warnings)\n", report->Ready() ? "ready" : "not ready",
             report->Count(pg::Severity::kWarning));
  // A fresh directory each time: the archive and the mirror belong to this server's slot.
  const std::string dir =
      std::filesystem::absolute(options.data_dir + "/demo").lexically_normal().string();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  fmt::print("  walden run: archive and mirror in {}; {} {}/s for {} s (Ctrl-C stops)\n\n", dir,
             options.rate, options.fleet ? "positions" : "transactions", options.seconds);
  std::fflush(stdout);
  std::atomic<bool>& stop = InstallStopHandlers();
  spdlog::set_level(spdlog::level::warn);  // the figures are the demo's output
  std::atomic<bool> streaming{false};
  std::atomic<bool> failed{false};
  std::thread director(options.fleet ? DirectFleet : Direct, std::cref(options), dir, shop,
                       std::cref(streaming), std::ref(stop), std::ref(failed));
  const Status run = pipeline::Run(DemoConfig(base, dir, shop), stop,
                                   [&](const pipeline::RunView&) { streaming = true; });
  stop = true;
  director.join();
  if (!run) return ReportError(run.error());
  if (!options.fleet) PrintEpilogue(dir);
  return failed ? 1 : 0;
}

}  // namespace walden::cli
