// walden run's upkeep of topic tables (design §12): time partitions created ahead, and each
// partition past its topic's retention dropped only once the archive holds every row it
// ever had.
//
// A drop takes two steps. Seal: a `CHECK (false) NOT VALID` constraint, whose ALTER waits
// for every transaction writing into the partition and then refuses any later insert; the
// WAL insert position after it is the seal LSN, past every commit of a row in it. Drop:
// once the archive's durable end reaches the seal LSN. Seal LSNs live in memory only: after
// a restart a sealed partition gets a new (later) one, so a crash at any point can delay a
// drop but never drop an unarchived row. Locks are taken with a 1 s lock_timeout: a
// partition that is busy is tried again next round instead of queueing producers behind it.
//
// Thread-safety: RunOnce on one thread at a time; MaintenanceThread runs it on its own
// thread, SetArchived and last() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/lsn.h"
#include "pg/connection.h"

namespace walden::topics {

// One topic as status and metrics show it (design §12): what PostgreSQL holds of it, how far
// retention got, and each consumer group's lag.
struct TopicStats {
  std::string topic;
  int partitions = 0;
  int64_t messages = 0;        // sum of the partitions' end offsets: every message ever produced
  int64_t hot_bytes = 0;       // its time partitions in PostgreSQL (tables, indexes, TOAST)
  int64_t archived_bytes = 0;  // its live files in the archive (filled by the pipeline)
  int time_partitions = 0;
  int expired_partitions = 0;                // past retention, waiting for the archive or a lock
  std::map<std::string, int64_t> group_lag;  // messages each group has yet to consume
};

struct MaintenanceRound {
  int sealed = 0;       // partitions sealed this round
  int dropped = 0;      // partitions dropped this round
  int waiting = 0;      // sealed partitions waiting for the archive
  std::string problem;  // why a partition was skipped (empty: none)
  std::vector<TopicStats> topics;
};

class Maintainer {
 public:
  explicit Maintainer(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  // One pass; `archived`: the end LSN up to which the archive is durable.
  Result<MaintenanceRound> RunOnce(Lsn archived);

 private:
  Status Connect();
  // Seals or drops one expired partition; an error skips it this round.
  Status Step(const std::string& table, bool sealed, Lsn archived, MaintenanceRound& round);
  Result<std::vector<TopicStats>> Stats();

  std::string conninfo_;
  std::optional<pg::Connection> conn_;
  std::map<std::string, Lsn> sealed_at_;  // partition table → WAL insert position after seal
};

class MaintenanceThread {
 public:
  MaintenanceThread(std::string conninfo, std::chrono::milliseconds interval);
  ~MaintenanceThread();
  void SetArchived(Lsn archived) { archived_.store(archived.value); }
  // The last round's outcome (or its error as `problem`).
  MaintenanceRound last() const;

 private:
  void Loop(const std::stop_token& stop);

  Maintainer maintainer_;
  std::chrono::milliseconds interval_;
  std::atomic<uint64_t> archived_{0};
  mutable std::mutex mu_;
  MaintenanceRound last_;
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace walden::topics
