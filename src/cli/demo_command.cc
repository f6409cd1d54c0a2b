#include <fmt/core.h>
#include <signal.h>

#include "cli/commands.h"
#include "pg/connection.h"
#include "pg/doctor.h"
#include "pg/local_server.h"

namespace walden::cli {
namespace {

// A small shop: the tables the demo's workload generator will drive.
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

void WaitForCtrlC() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int signal = 0;
  sigwait(&set, &signal);
}

}  // namespace

int DemoCommand(const Config&, bool keep_running) {
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
  fmt::print("  walden doctor on it: {} ({} warnings)\n\n", report->Ready() ? "ready" : "not ready",
             report->Count(pg::Severity::kWarning));
  fmt::print(
      "Next in this demo, once the streaming pipeline lands: a generator places ~500\n"
      "transactions/s (orders, payments, shipments, price changes, cancellations, a column\n"
      "added midway); walden streams them into a Parquet archive and a DuckDB mirror and\n"
      "prints changes/s, commit-to-mirror latency p50/p99, archive size and revenue per\n"
      "category over the last 5 minutes.\n");
  if (keep_running) {
    fmt::print("\nThe server stays up until Ctrl-C. Try:\n  walden doctor --source '{}'\n", shop);
    std::fflush(stdout);
    WaitForCtrlC();
  }
  return 0;
}

}  // namespace walden::cli
