// What `walden run` reports about itself: a snapshot the run loop publishes a few times a
// second, rendered as JSON for /api/status and `walden status`, and as Prometheus text for
// /metrics (names `walden_…`, units in the names; design §6).
//
// Thread-safety: StatusBoard is shared between the run loop (Publish) and the HTTP threads
// (Latest); RunStatus values are plain copies.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "common/lsn.h"
#include "mirror/mirror.h"
#include "pipeline/canary.h"
#include "pipeline/verify_api.h"
#include "query/query.h"
#include "snapshot/online.h"
#include "topics/maintenance.h"

namespace walden::pipeline {

struct RunStatus {
  std::string slot;
  int64_t started_at = 0;  // µs since 1970
  int64_t updated_at = 0;
  Lsn received;
  Lsn confirmed;
  int64_t slot_lag_bytes = -1;  // -1: not measured yet
  uint64_t transactions = 0;
  uint64_t changes = 0;
  uint64_t reconnects = 0;
  Lsn archive_watermark;
  Lsn archive_durable;  // end LSN up to which every commit is durable in the archive
  uint64_t archive_commits = 0;
  int64_t archive_bytes = 0;       // live Parquet files
  int64_t archive_last_flush = 0;  // µs since 1970; 0: none since start
  Lsn mirror_watermark;
  int64_t mirror_last_merge = 0;
  std::vector<mirror::TableStatus> tables;
  CanaryState canary;
  std::map<std::string, uint64_t> errors;  // retried failures by "<where>/<kind>"
  snapshot::Progress snapshot;             // job empty: no snapshot running
  std::vector<topics::TopicStats> topics;  // empty: the topics API is not installed
  int feed_clients = 0;                    // live-feed clients connected
  uint64_t feed_dropped = 0;               // live-feed clients dropped for falling behind
  size_t feed_buffered = 0;                // bytes of events the feeds' rings hold
  VerifyCounts verify;                     // walden verify's results since start
};

struct Histograms {
  Histogram::Snapshot commit_to_mirror, mirror_merge, commit_to_archive, archive_flush;
};

class StatusBoard {
 public:
  void Publish(RunStatus status);
  RunStatus Latest() const;

 private:
  mutable std::mutex mutex_;
  RunStatus status_;
};

std::string StatusJson(const RunStatus& status);
// The status as walden_status.{slot, sinks, tables, topics, groups} for queries.
std::vector<query::StatusTable> StatusTables(const RunStatus& status);
// The same while walden is stopped: tables from the mirror's registry (in `catalog` of
// `database`); slot and sinks empty.
Result<std::vector<query::StatusTable>> StoppedStatusTables(duck::Database& database,
                                                            const std::string& catalog);
// Prometheus text exposition format 0.0.4.
std::string PrometheusText(const RunStatus& status, const Histograms& histograms);

}  // namespace walden::pipeline
