// The demo's shop (`walden demo`): its schema, its first rows, the revenue query the demo
// shows, and a workload generator that holds a requested rate of shop transactions.
//
// The generator spreads the rate over several connections, each on a fixed schedule (a
// connection that falls behind catches up instead of drifting); rows are picked through
// indexes with SKIP LOCKED, so the cost of a transaction does not grow with the tables and
// connections never wait for each other. Halfway through, one connection adds a column
// (ALTER TABLE … ADD COLUMN … NOT NULL DEFAULT) while the others keep writing.
// Thread-safety: ShopGenerator's counters may be read from any thread; Start and Stop
// from one.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace walden::cli::demo {

extern const char* const kShopSchema;
extern const char* const kShopData;

// Revenue per category of the orders not cancelled: in the last five minutes (DuckDB, the
// live figures) or over all orders (the same text on PostgreSQL and DuckDB, for the check
// at the end: category and the sum as text with two decimals).
extern const char* const kRevenueLastFiveMinutesSql;
extern const char* const kRevenueSql;

struct GeneratorOptions {
  std::string conninfo;
  int rate = 500;  // transactions per second, over all connections
  std::chrono::seconds duration{30};
};

class ShopGenerator {
 public:
  // Opens the connections (an error names the one that failed) and starts the schedule.
  static Result<std::unique_ptr<ShopGenerator>> Start(const GeneratorOptions& options);
  ~ShopGenerator();

  // Ends the schedule early (Ctrl-C) and waits for the connections' last transactions.
  void Stop();
  bool finished() const { return running_ == 0; }
  int connections() const { return static_cast<int>(threads_.size()); }
  uint64_t committed() const { return committed_; }
  uint64_t failed() const { return failed_; }
  bool altered() const { return altered_; }
  std::string last_error() const;

 private:
  struct Worker;
  ShopGenerator() = default;
  void Run(Worker& worker);

  GeneratorOptions options_;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<int> running_{0};
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<bool> altered_{false};
  mutable std::mutex mutex_;
  std::string last_error_;
};

}  // namespace walden::cli::demo
