#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "common/lsn.h"
#include "pg/capture.h"
#include "pg/connection.h"
#include "pg/doctor.h"
#include "pg/local_server.h"

namespace walden::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A small shop: the tables the demo's workload generator drives.
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
INSERT INTO categories (name) VALUES ('books'), ('garden'), ('kitchen'), ('toys');
INSERT INTO products (category_id, name, price)
  SELECT 1 + i % 4, 'product ' || i, (5 + i % 95)::numeric(10, 2) FROM generate_series(1, 200) i;
INSERT INTO customers (email, name)
  SELECT 'customer' || i || '@example.com', 'Customer ' || i FROM generate_series(1, 1000) i;
)sql";

// One shop transaction: a new order with line items, a payment, or a cancellation.
std::string ShopTransaction(std::mt19937& random) {
  const int kind = static_cast<int>(random() % 10);
  if (kind < 6) {
    const int customer = 1 + static_cast<int>(random() % 1000);
    const int lines = 1 + static_cast<int>(random() % 3);
    std::string sql = fmt::format(
        "WITH o AS (INSERT INTO orders (customer_id) VALUES ({}) RETURNING id) "
        "INSERT INTO line_items SELECT o.id, l, p.id, 1 + l, p.price FROM o, "
        "generate_series(1, {}) l JOIN products p ON p.id = 1 + (l * {}) % 200",
        customer, lines, random() % 200);
    return "BEGIN; " + sql +
           "; UPDATE orders SET total = (SELECT sum(quantity * unit_price) "
           "FROM line_items WHERE order_id = currval('orders_id_seq')) "
           "WHERE id = currval('orders_id_seq'); COMMIT";
  }
  if (kind < 9) {
    return "UPDATE orders SET status = 'paid' WHERE id = (SELECT max(id) FROM orders "
           "WHERE status = 'new')";
  }
  return "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE status = 'new')";
}

void RunGenerator(const std::string& conninfo, int rate, const std::atomic<bool>& stop,
                  std::atomic<uint64_t>& committed) {
  auto conn = pg::Connection::Open(conninfo);
  if (!conn) return;
  std::mt19937 random(7);
  const auto period = std::chrono::microseconds(1000000 / std::max(rate, 1));
  auto next = Clock::now();
  while (!stop) {
    if (conn->Exec(ShopTransaction(random))) ++committed;
    next += period;
    std::this_thread::sleep_until(next);
  }
}

int64_t Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + static_cast<long>(index), values.end());
  return values[index];
}

}  // namespace

int DemoCommand(const Config&, const DemoOptions& options) {
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

  auto capture = pg::Capture::Start({.conninfo = shop,
                                     .slot = "walden_demo",
                                     .temporary_slot = true,
                                     .publication = "walden",
                                     .spill_dir = options.data_dir + "/spill"});
  if (!capture) return ReportError(capture.error());
  fmt::print(
      "  capturing committed changes; the generator places ~{} transactions/s for {} s "
      "(Ctrl-C stops)\n\n",
      options.rate, options.seconds);
  std::fflush(stdout);
  std::atomic<bool>& stop = InstallStopHandlers();
  std::atomic<uint64_t> committed{0};
  std::thread generator(RunGenerator, shop, options.rate, std::cref(stop), std::ref(committed));

  const auto start = Clock::now();
  auto window_start = start;
  uint64_t window_changes = 0;
  uint64_t total_transactions = 0;
  std::vector<int64_t> latencies_us;
  Status failure;
  while (!stop && Clock::now() - start < std::chrono::seconds(options.seconds)) {
    auto ok = (*capture)->Poll(std::chrono::milliseconds(100), [&](pg::CommittedTransaction&& t) {
      const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      latencies_us.push_back(now_us - PgTimeToUnixMicros(t.info().commit_time));
      window_changes += t.change_count();
      ++total_transactions;
      (*capture)->Confirm(t.info().end_lsn);
      return Status{};
    });
    if (!ok) {
      failure = ok;
      break;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - window_start).count();
    if (elapsed >= 2.0) {
      const double rate = window_changes / elapsed;
      const int64_t p50 = Percentile(latencies_us, 0.50);
      const int64_t p99 = Percentile(latencies_us, 0.99);
      if (options.json) {
        fmt::print("{}\n", nlohmann::json{{"changes_per_s", static_cast<int64_t>(rate)},
                                          {"transactions", total_transactions},
                                          {"commit_to_capture_p50_ms", p50 / 1000.0},
                                          {"commit_to_capture_p99_ms", p99 / 1000.0}}
                               .dump());
      } else {
        fmt::print(
            "  {:>8.0f} changes/s   {:>7} transactions   commit->capture p50 {:.1f} ms  "
            "p99 {:.1f} ms\n",
            rate, total_transactions, p50 / 1000.0, p99 / 1000.0);
      }
      std::fflush(stdout);
      window_start = Clock::now();
      window_changes = 0;
      latencies_us.clear();
    }
  }
  stop = true;
  generator.join();
  if (!failure) return ReportError(failure.error());
  fmt::print(
      "\n  {} transactions committed, {} captured.\n\n"
      "Next in this demo, once the sinks land: the same stream goes into a Parquet archive and\n"
      "a DuckDB mirror, and the demo adds commit-to-mirror latency, archive size and revenue per\n"
      "category over the last 5 minutes, computed from the mirror.\n",
      committed.load(), total_transactions);
  return 0;
}

}  // namespace walden::cli
