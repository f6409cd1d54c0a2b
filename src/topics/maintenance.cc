#include "topics/maintenance.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

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
  auto stats = Stats();
  if (!stats) return fail(stats.error());
  round.topics = std::move(*stats);
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

Result<std::vector<TopicStats>> Maintainer::Stats() {
  auto rows = conn_->Exec(
      "SELECT t.topic, t.partitions, "
      "(SELECT sum(p.next_offset) FROM walden.topic_partitions p WHERE p.topic = t.topic), "
      "(SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
      " WHERE i.inhparent = format('walden_topics.%I', t.topic)::regclass), "
      "(SELECT count(*) FROM pg_inherits i "
      " WHERE i.inhparent = format('walden_topics.%I', t.topic)::regclass), "
      "(SELECT count(*) FROM walden.expired_partitions e WHERE e.topic = t.topic), "
      "(SELECT coalesce(json_object_agg(l.group_name, l.lag), '{}') FROM (SELECT group_name, "
      " sum(lag) AS lag FROM walden.group_lag WHERE topic = t.topic GROUP BY 1) l) "
      "FROM walden.topics t ORDER BY t.topic");
  if (!rows) return std::unexpected(rows.error());
  std::vector<TopicStats> out;
  for (int row = 0; row < rows->rows(); ++row) {
    TopicStats stats{.topic = std::string(rows->Value(row, 0))};
    auto partitions = rows->Int(row, 1);
    auto messages = rows->Int(row, 2);
    auto hot = rows->Int(row, 3);
    auto time_partitions = rows->Int(row, 4);
    auto expired = rows->Int(row, 5);
    for (const auto* value : {&partitions, &messages, &hot, &time_partitions, &expired}) {
      if (!*value) return std::unexpected(value->error());
    }
    stats.partitions = static_cast<int>(*partitions);
    stats.messages = *messages;
    stats.hot_bytes = *hot;
    stats.time_partitions = static_cast<int>(*time_partitions);
    stats.expired_partitions = static_cast<int>(*expired);
    const nlohmann::json lag =
        nlohmann::json::parse(rows->Value(row, 6), nullptr, /*allow_exceptions=*/false);
    if (lag.is_object()) {
      for (const auto& [group, value] : lag.items()) {
        if (value.is_number_integer()) stats.group_lag[group] = value.get<int64_t>();
      }
    }
    out.push_back(std::move(stats));
  }
  return out;
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
  std::string last_warning;
  auto last_warned = std::chrono::steady_clock::time_point{};
  while (!stop.stop_requested()) {
    auto round = maintainer_.RunOnce(Lsn{archived_.load()});
    if (!round) round = MaintenanceRound{.problem = round.error().message};
    // The same problem every round (a missing privilege) is said again every 5 minutes.
    if (!round->problem.empty() &&
        (round->problem != last_warning ||
         std::chrono::steady_clock::now() - last_warned > std::chrono::minutes(5))) {
      spdlog::warn("topics maintenance: {}; will retry", round->problem);
      last_warning = round->problem;
      last_warned = std::chrono::steady_clock::now();
    }
    {
      std::unique_lock lock(mu_);
      last_ = *round;
      wake_.wait_for(lock, stop, interval_, [] { return false; });
    }
  }
}

}  // namespace walden::topics
