#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "common/units.h"
#include "mirror/query.h"
#include "pg/connection.h"
#include "pg/doctor.h"
#include "pg/local_server.h"
#include "pipeline/mirror_sink.h"
#include "pipeline/runner.h"
#include "pipeline/status.h"

namespace walden::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A small shop; its rows are loaded once walden streams, so the mirror has them all.
constexpr const char* kShopSchema = R"sql(
CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE products (
  id serial PRIMARY KEY, category_id int NOT NULL REFERENCES categories,
  name text NOT NULL, price numeric(10, 2) NOT NULL);
CREATE TABLE customers (
  id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (
  id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers,
  status text NOT NULL DEFAULT 'new', total numeric(12, 2) NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE line_items (
  order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE, line int NOT NULL,
  product_id int NOT NULL REFERENCES products, quantity int NOT NULL,
  unit_price numeric(10, 2) NOT NULL, PRIMARY KEY (order_id, line));
)sql";

constexpr const char* kShopData = R"sql(
INSERT INTO categories (name) VALUES ('books'), ('garden'), ('kitchen'), ('toys');
INSERT INTO products (category_id, name, price)
  SELECT 1 + i % 4, 'product ' || i, (5 + i % 95)::numeric(10, 2) FROM generate_series(1, 200) i;
INSERT INTO customers (email, name)
  SELECT 'customer' || i || '@example.com', 'Customer ' || i FROM generate_series(1, 1000) i;
)sql";

constexpr const char* kRevenueSql =
    "SELECT c.name AS category, sum(li.quantity * li.unit_price) AS revenue "
    "FROM public.line_items li JOIN public.orders o ON o.id = li.order_id "
    "JOIN public.products p ON p.id = li.product_id JOIN public.categories c "
    "ON c.id = p.category_id WHERE o.created_at > now() - INTERVAL 5 MINUTE "
    "AND o.status <> 'cancelled' GROUP BY ALL ORDER BY revenue DESC";

// One shop transaction: a new order with line items, a payment, a shipment, a price
// change or a cancellation.
std::string ShopTransaction(std::mt19937& random) {
  const int kind = static_cast<int>(random() % 100);
  if (kind < 60) {
    const int customer = 1 + static_cast<int>(random() % 1000);
    const int lines = 1 + static_cast<int>(random() % 3);
    return fmt::format(
        "BEGIN; WITH o AS (INSERT INTO orders (customer_id) VALUES ({}) RETURNING id) "
        "INSERT INTO line_items SELECT o.id, l, p.id, 1 + l, p.price FROM o, "
        "generate_series(1, {}) l JOIN products p ON p.id = 1 + (l * {}) % 200; "
        "UPDATE orders SET total = (SELECT sum(quantity * unit_price) FROM line_items WHERE "
        "order_id = currval('orders_id_seq')) WHERE id = currval('orders_id_seq'); COMMIT",
        customer, lines, random() % 200);
  }
  if (kind < 75) {
    return "UPDATE orders SET status = 'paid' WHERE id = (SELECT max(id) FROM orders "
           "WHERE status = 'new')";
  }
  if (kind < 85) {
    return "UPDATE orders SET status = 'shipped' WHERE id = (SELECT min(id) FROM orders "
           "WHERE status = 'paid')";
  }
  if (kind < 93) {
    return fmt::format("UPDATE products SET price = price + 0.50 WHERE id = {}",
                       1 + random() % 200);
  }
  if (kind < 97) {
    return "UPDATE orders SET status = 'cancelled' WHERE id = (SELECT min(id) FROM orders "
           "WHERE status = 'new')";
  }
  return "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE status = 'cancelled')";
}

// Loads the shop's rows once walden streams, then drives ~rate transactions/s; halfway
// through, a column is added (the mirror follows).
void RunGenerator(const std::string& conninfo, int rate, int seconds,
                  const std::atomic<bool>& streaming, const std::atomic<bool>& stop,
                  std::atomic<uint64_t>& committed) {
  auto conn = pg::Connection::Open(conninfo);
  if (!conn) return;
  while (!streaming && !stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!conn->Exec(kShopData)) return;
  std::mt19937 random(7);
  const auto period = std::chrono::microseconds(1000000 / std::max(rate, 1));
  const auto start = Clock::now();
  auto next = start;
  bool altered = false;
  while (!stop) {
    if (!altered && Clock::now() - start > std::chrono::seconds(seconds) / 2) {
      altered = static_cast<bool>(
          conn->Exec("ALTER TABLE orders ADD COLUMN channel text NOT NULL DEFAULT 'web'"));
    }
    if (conn->Exec(ShopTransaction(random))) ++committed;
    next += period;
    std::this_thread::sleep_until(next);
  }
}

// Quantile of the observations between two snapshots of one histogram.
double WindowQuantile(const Histogram::Snapshot& now, const Histogram::Snapshot& before, double q) {
  Histogram::Snapshot window = now;
  window.count = now.count - before.count;
  for (size_t i = 0; i < window.counts.size(); ++i) window.counts[i] -= before.counts[i];
  return window.Quantile(q);
}

// Prints the figures every two seconds, on the run loop's thread.
class Reporter {
 public:
  Reporter(bool json, std::atomic<bool>& streaming) : json_(json), streaming_(streaming) {}
  void OnRound(const pipeline::RunView& view);

 private:
  bool json_;
  std::atomic<bool>& streaming_;
  Clock::time_point last_ = Clock::now();
  uint64_t last_changes_ = 0;
  Histogram::Snapshot last_latency_;
};

void Reporter::OnRound(const pipeline::RunView& view) {
  streaming_ = true;
  const double elapsed = std::chrono::duration<double>(Clock::now() - last_).count();
  if (elapsed < 2.0) return;
  const pipeline::RunStatus status = view.board.Latest();
  const Histogram::Snapshot latency = view.mirror.latency().Take();
  const double rate = static_cast<double>(status.changes - last_changes_) / elapsed;
  const double p50 = WindowQuantile(latency, last_latency_, 0.5) * 1000;
  const double p99 = WindowQuantile(latency, last_latency_, 0.99) * 1000;
  last_ = Clock::now();
  last_changes_ = status.changes;
  last_latency_ = latency;
  nlohmann::ordered_json revenue = nlohmann::ordered_json::object();
  auto csv =
      mirror::RunQuery(view.mirror.mirror().database(), kRevenueSql, mirror::OutputFormat::kCsv);
  std::istringstream lines(csv.value_or(""));
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    const size_t comma = line.find(',');
    if (comma != std::string::npos) revenue[line.substr(0, comma)] = line.substr(comma + 1);
  }
  if (json_) {
    fmt::print("{}\n", nlohmann::ordered_json{{"changes_per_s", static_cast<int64_t>(rate)},
                                              {"transactions", status.transactions},
                                              {"commit_to_mirror_p50_ms", p50},
                                              {"commit_to_mirror_p99_ms", p99},
                                              {"archive_bytes", status.archive_bytes},
                                              {"revenue_last_5_min", revenue}}
                           .dump());
  } else {
    std::string categories;
    for (const auto& [name, value] : revenue.items()) {
      categories += fmt::format("  {} {}", name, value.get<std::string>());
    }
    fmt::print(
        "  {:>6.0f} changes/s  commit->mirror p50 {:>5.1f} ms p99 {:>5.1f} ms  archive "
        "{:>8}  revenue/5 min:{}\n",
        rate, p50, p99, FormatSize(status.archive_bytes), categories);
  }
  std::fflush(stdout);
}

}  // namespace

namespace {

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

void PrintEpilogue(const std::string& dir, uint64_t committed) {
  fmt::print(
      "\n  {} shop transactions committed; everything walden captured is in {}:\n\n"
      "    walden status --data-dir {}\n"
      "    walden query --data-dir {} \"SELECT status, count(*), sum(total) FROM public.orders "
      "GROUP BY ALL\"\n"
      "    walden query --data-dir {} \"SELECT _walden_op, count(*) FROM history.public.orders "
      "GROUP BY ALL\"\n"
      "    walden archive ls --data-dir {}\n"
      "  (plain DuckDB reads {}/archive/tables/*/*/*/*.parquet with union_by_name = true)\n",
      committed, dir, dir, dir, dir, dir, dir);
}

}  // namespace

int DemoCommand(const Config& base, const DemoOptions& options) {
  fmt::print("walden demo\n");
  auto server = pg::LocalServer::Start({});
  if (!server) return ReportError(server.error());
  fmt::print("  started PostgreSQL {} on 127.0.0.1:{} (throwaway; removed when the demo ends)\n",
             (*server)->major_version(), (*server)->port());
  auto admin = pg::Connection::Open((*server)->AdminConninfo());
  if (!admin) return ReportError(admin.error());
  if (auto created = admin->Exec("CREATE DATABASE shop"); !created) {
    return ReportError(created.error());
  }
  const std::string shop = (*server)->AdminConninfo("shop");
  auto conn = pg::Connection::Open(shop);
  if (!conn) return ReportError(conn.error());
  if (auto loaded = conn->Exec(kShopSchema); !loaded) return ReportError(loaded.error());
  fmt::print("  created the shop schema: categories, products, customers, orders, line_items\n");
  auto report = pg::RunDoctor({.conninfo = shop});
  if (!report) return ReportError(report.error());
  fmt::print("  walden doctor on it: {} ({} warnings)\n", report->Ready() ? "ready" : "not ready",
             report->Count(pg::Severity::kWarning));
  // A fresh directory each time: the archive and the mirror belong to this server's slot.
  const std::string dir =
      std::filesystem::absolute(options.data_dir + "/demo").lexically_normal().string();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  fmt::print(
      "  walden run: archive and mirror in {}; ~{} transactions/s for {} s (Ctrl-C "
      "stops)\n\n",
      dir, options.rate, options.seconds);
  std::fflush(stdout);
  std::atomic<bool>& stop = InstallStopHandlers();
  spdlog::set_level(spdlog::level::warn);  // the figures are the demo's output
  std::atomic<bool> streaming{false};
  std::atomic<uint64_t> committed{0};
  std::thread generator(RunGenerator, shop, options.rate, options.seconds, std::cref(streaming),
                        std::cref(stop), std::ref(committed));
  Reporter reporter(options.json, streaming);
  const auto deadline = Clock::now() + std::chrono::seconds(options.seconds);
  const Status run =
      pipeline::Run(DemoConfig(base, dir, shop), stop, [&](const pipeline::RunView& view) {
        reporter.OnRound(view);
        if (Clock::now() > deadline) stop = true;
      });
  stop = true;
  generator.join();
  if (!run) return ReportError(run.error());
  PrintEpilogue(dir, committed.load());
  return 0;
}

}  // namespace walden::cli
