#include "cli/demo_shop.h"

#include <fmt/core.h>

#include <algorithm>
#include <random>

#include "pg/connection.h"

namespace walden::cli::demo {
namespace {

using Clock = std::chrono::steady_clock;

// What one connection sustains on a small machine with room to spare (a transaction takes
// about a millisecond, commit included).
constexpr int kRatePerConnection = 250;
constexpr int kMaxConnections = 16;

// One shop transaction: a new order with line items, a payment, a shipment, a price
// change, a cancellation or the removal of a cancelled order.
std::string ShopTransaction(std::mt19937& random) {
  const int kind = static_cast<int>(random() % 100);
  // currval() is volatile: compared directly, it is evaluated per row and no index is used
  // (a scan of the whole table per order); as a sub-select it is evaluated once.
  // The row a status change applies to, never one another connection holds. The order is
  // orders_status_id's own: with `ORDER BY id` the planner may walk the primary key past
  // every row of other states, a cost that grows with the table.
  const auto pick = [](const char* status, const char* order) {
    return fmt::format(
        "(SELECT id FROM orders WHERE status = '{0}' ORDER BY status {1}, id {1} LIMIT 1 FOR "
        "UPDATE SKIP LOCKED)",
        status, order);
  };
  if (kind < 60) {
    const int customer = 1 + static_cast<int>(random() % 1000);
    const int lines = 1 + static_cast<int>(random() % 3);
    return fmt::format(
        "BEGIN; WITH o AS (INSERT INTO orders (customer_id) VALUES ({}) RETURNING id) "
        "INSERT INTO line_items SELECT o.id, l, p.id, 1 + l, p.price FROM o, "
        "generate_series(1, {}) l JOIN products p ON p.id = 1 + (l * {}) % 200; "
        "UPDATE orders SET total = (SELECT sum(quantity * unit_price) FROM line_items WHERE "
        "order_id = (SELECT currval('orders_id_seq'))) WHERE id = (SELECT "
        "currval('orders_id_seq')); COMMIT",
        customer, lines, random() % 200);
  }
  if (kind < 75) return "UPDATE orders SET status = 'paid' WHERE id = " + pick("new", "DESC");
  if (kind < 85) return "UPDATE orders SET status = 'shipped' WHERE id = " + pick("paid", "");
  if (kind < 93) {
    return fmt::format("UPDATE products SET price = price + 0.50 WHERE id = {}",
                       1 + random() % 200);
  }
  if (kind < 97) return "UPDATE orders SET status = 'cancelled' WHERE id = " + pick("new", "");
  return "DELETE FROM orders WHERE id = " + pick("cancelled", "");
}

}  // namespace

const char* const kShopSchema = R"sql(
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
CREATE INDEX orders_status_id ON orders (status, id);
CREATE TABLE line_items (
  order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE, line int NOT NULL,
  product_id int NOT NULL REFERENCES products, quantity int NOT NULL,
  unit_price numeric(10, 2) NOT NULL, PRIMARY KEY (order_id, line));
CREATE INDEX line_items_product ON line_items (product_id);
)sql";

const char* const kShopData = R"sql(
INSERT INTO categories (name) VALUES ('books'), ('garden'), ('kitchen'), ('toys');
INSERT INTO products (category_id, name, price)
  SELECT 1 + i % 4, 'product ' || i, (5 + i % 95)::numeric(10, 2) FROM generate_series(1, 200) i;
INSERT INTO customers (email, name)
  SELECT 'customer' || i || '@example.com', 'Customer ' || i FROM generate_series(1, 1000) i;
)sql";

const char* const kRevenueLastFiveMinutesSql =
    "SELECT c.name AS category, sum(li.quantity * li.unit_price) AS revenue "
    "FROM public.line_items li JOIN public.orders o ON o.id = li.order_id "
    "JOIN public.products p ON p.id = li.product_id JOIN public.categories c "
    "ON c.id = p.category_id WHERE o.created_at > now() - INTERVAL 5 MINUTE "
    "AND o.status <> 'cancelled' GROUP BY ALL ORDER BY revenue DESC";

const char* const kRevenueSql =
    "SELECT c.name AS category, CAST(CAST(sum(li.quantity * li.unit_price) AS NUMERIC(20, 2)) "
    "AS VARCHAR) AS revenue FROM public.line_items li JOIN public.orders o ON o.id = "
    "li.order_id JOIN public.products p ON p.id = li.product_id JOIN public.categories c ON "
    "c.id = p.category_id WHERE o.status <> 'cancelled' GROUP BY c.name ORDER BY c.name";

struct ShopGenerator::Worker {
  int index = 0;
  std::unique_ptr<pg::Connection> conn;
};

Result<std::unique_ptr<ShopGenerator>> ShopGenerator::Start(const GeneratorOptions& options) {
  std::unique_ptr<ShopGenerator> generator(new ShopGenerator());
  generator->options_ = options;
  const int count =
      std::clamp((options.rate + kRatePerConnection - 1) / kRatePerConnection, 1, kMaxConnections);
  for (int i = 0; i < count; ++i) {
    auto conn = pg::Connection::Open(options.conninfo);
    if (!conn) return std::unexpected(conn.error());
    generator->workers_.push_back(std::make_unique<Worker>(
        Worker{.index = i, .conn = std::make_unique<pg::Connection>(std::move(*conn))}));
  }
  generator->start_ = Clock::now();
  generator->running_ = count;
  for (auto& worker : generator->workers_) {
    generator->threads_.emplace_back([g = generator.get(), w = worker.get()] { g->Run(*w); });
  }
  return generator;
}

ShopGenerator::~ShopGenerator() { Stop(); }

void ShopGenerator::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::string ShopGenerator::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

// Worker i of n sends transactions k·n + i at start + (k·n + i) / rate: together they keep
// the rate, each at its own pace, and one that fell behind sends at once until it caught up.
void ShopGenerator::Run(Worker& worker) {
  std::mt19937 random(7 + static_cast<unsigned>(worker.index));
  const auto n = static_cast<int64_t>(workers_.size());
  const double per_second = std::max(options_.rate, 1);
  const auto end = start_ + options_.duration;
  for (int64_t k = worker.index; !stop_; k += n) {
    const auto due =
        start_ + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(static_cast<double>(k) / per_second));
    if (due >= end || Clock::now() >= end) break;
    std::this_thread::sleep_until(due);
    if (worker.index == 0 && !altered_ && Clock::now() - start_ > options_.duration / 2) {
      altered_ = static_cast<bool>(
          worker.conn->Exec("ALTER TABLE orders ADD COLUMN channel text NOT NULL DEFAULT 'web'"));
    }
    if (auto done = worker.conn->Exec(ShopTransaction(random)); done) {
      ++committed_;
    } else {
      ++failed_;
      {
        std::lock_guard lock(mutex_);
        last_error_ = done.error().message;
      }
      // A failure inside BEGIN … COMMIT leaves the transaction open and aborted.
      auto rolled_back = worker.conn->Exec("ROLLBACK");
      (void)rolled_back;
    }
  }
  --running_;
}

}  // namespace walden::cli::demo
