// The fleet demo's workload (`walden demo --fleet`, design §14): ~500 aircraft flying over
// the continental US, each publishing its position to the topic `positions` (key: the
// aircraft's registration) through the topics SQL API, at a steady total rate. The
// console's map shows them from the topic's live feed. Thread-safety: Start/Stop from one
// thread; the counters from any.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "pg/connection.h"

namespace walden::cli::demo {

inline constexpr std::string_view kFleetTopic = "positions";

// Installs the topics API (or checks its version) and creates the topic when missing.
Status CreateFleetTopic(pg::Connection& conn);

struct FleetOptions {
  std::string conninfo;
  int aircraft = 500;
  int rate = 1000;  // positions per second, all aircraft together
  std::chrono::seconds duration{60};
};

class FleetGenerator {
 public:
  // Starts publishing (the topic exists: CreateFleetTopic).
  static Result<std::unique_ptr<FleetGenerator>> Start(const FleetOptions& options);
  ~FleetGenerator() { Stop(); }
  void Stop();
  bool finished() const { return finished_; }
  uint64_t produced() const { return produced_; }
  std::string last_error() const;

 private:
  FleetGenerator() = default;
  void Run();

  FleetOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<uint64_t> produced_{0};
  mutable std::mutex mutex_;
  std::string last_error_;
};

}  // namespace walden::cli::demo
