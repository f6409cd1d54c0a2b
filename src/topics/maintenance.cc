#include "topics/maintenance.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include "common/identifiers.h"

namespace walden::topics {

Status Maintainer::Connect() {
  if (conn_) return {};
  auto conn = pg::Connection::Open(conninfo_, {.connect_timeout_seconds = 5,
                                               .options = "-c lock_timeout=1000 "
                                                          "-c statement_timeout=60000"});
  if (!conn) return std::unexpected(conn.error());
  conn_ = std::move(*conn);
  return {};
}

Result<MaintenanceRound> Maintainer::RunOnce(Lsn archived) {
  if (auto connected = Connect(); !connected) return std::unexpected(connected.error());
  MaintenanceRound round;
  auto fail = [&](const Error& error) -> Result<MaintenanceRound> {
    if (error.kind == ErrorKind::kConnection) conn_.reset();
    return std::unexpected(error);
  };
  if (auto ahead = conn_->Exec("SELECT walden._partitions_ahead(2)"); !ahead) {
    return fail(ahead.error());
  }
  auto expired = conn_->Exec(
      "SELECT partition_table, sealed FROM walden.expired_partitions ORDER BY upper_bound");
  if (!expired) return fail(expired.error());
  for (int row = 0; row < expired->rows(); ++row) {
    const std::string table(expired->Value(row, 0));
    if (auto stepped = Step(table, expired->Value(row, 1) == "t", archived, round); !stepped) {
      if (stepped.error().kind == ErrorKind::kConnection) return fail(stepped.error());
      round.problem = fmt::format("partition {}: {}", table, stepped.error().message);
    }
  }
  return round;
}

Status Maintainer::Step(const std::string& table, bool sealed, Lsn archived,
                        MaintenanceRound& round) {
  const std::string name = "walden_topics." + QuoteIdent(table);
  auto at = sealed_at_.find(table);
  if (!sealed || at == sealed_at_.end()) {
    if (!sealed) {
      auto sealing = conn_->Exec("ALTER TABLE " + name +
                                 " ADD CONSTRAINT walden_sealed CHECK (false) NOT VALID");
      if (!sealing) return std::unexpected(sealing.error());
      ++round.sealed;
    }
    // Sealed by an earlier run: its seal LSN is gone, a later one is as safe.
    auto lsn = conn_->QueryValue("SELECT pg_current_wal_insert_lsn()");
    if (!lsn) return std::unexpected(lsn.error());
    at = sealed_at_.insert_or_assign(table, Lsn::Parse(*lsn).value_or(Lsn{~0ULL})).first;
  }
  if (archived < at->second) {
    ++round.waiting;
    return {};
  }
  if (auto dropped = conn_->Exec("DROP TABLE " + name); !dropped) {
    return std::unexpected(dropped.error());
  }
  spdlog::info("topics: dropped partition {} past retention (archived up to {})", table,
               archived.ToString());
  sealed_at_.erase(at);
  ++round.dropped;
  return {};
}

MaintenanceThread::MaintenanceThread(std::string conninfo, std::chrono::milliseconds interval)
    : maintainer_(std::move(conninfo)),
      interval_(interval),
      thread_([this](const std::stop_token& stop) { Loop(stop); }) {}

MaintenanceThread::~MaintenanceThread() {
  thread_.request_stop();
  wake_.notify_all();
}

MaintenanceRound MaintenanceThread::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

void MaintenanceThread::Loop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    auto round = maintainer_.RunOnce(Lsn{archived_.load()});
    if (!round) {
      spdlog::warn("topics maintenance: {}; will retry", round.error().message);
      round = MaintenanceRound{.problem = round.error().message};
    } else if (!round->problem.empty()) {
      spdlog::warn("topics maintenance: {}; will retry", round->problem);
    }
    {
      std::unique_lock lock(mu_);
      last_ = *round;
      wake_.wait_for(lock, stop, interval_, [] { return false; });
    }
  }
}

}  // namespace walden::topics
