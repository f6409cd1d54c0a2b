#include "pipeline/status.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "common/units.h"

namespace walden::pipeline {
namespace {

std::string Time(int64_t unix_micros) {
  return unix_micros == 0 ? "" : FormatUtcTime(unix_micros, false);
}

// Label values escape backslash, double quote and newline.
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Metric(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void HistogramText(std::string& out, const char* name, const char* help,
                   const Histogram::Snapshot& h) {
  Metric(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < Histogram::kBounds.size(); ++i) {
    cumulative += h.counts[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, Histogram::kBounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name,
                     h.sum, name, h.count);
}

}  // namespace

void StatusBoard::Publish(RunStatus status) {
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

RunStatus StatusBoard::Latest() const {
  std::lock_guard lock(mutex_);
  return status_;
}

static nlohmann::ordered_json SnapshotJson(const snapshot::Progress& progress) {
  if (progress.job.empty() && progress.finished.empty()) return nullptr;
  nlohmann::ordered_json tables = nlohmann::ordered_json::array();
  for (const snapshot::TableProgress& t : progress.tables) {
    tables.push_back({{"table", t.name.Display()},
                      {"rows", t.rows},
                      {"estimated_rows", t.estimated_rows},
                      {"chunks_done", t.chunks_delivered},
                      {"chunks_known", t.chunks}});
  }
  nlohmann::ordered_json job = nullptr;
  if (!progress.job.empty()) job = progress.job;
  return {{"job", std::move(job)},
          {"reason", progress.reason},
          {"tables", std::move(tables)},
          {"finished", progress.finished}};
}

namespace {

nlohmann::ordered_json TopicsJson(const std::vector<topics::TopicStats>& topics) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const topics::TopicStats& t : topics) {
    out.push_back({{"topic", t.topic},
                   {"partitions", t.partitions},
                   {"messages", t.messages},
                   {"hot_bytes", t.hot_bytes},
                   {"archived_bytes", t.archived_bytes},
                   {"time_partitions", t.time_partitions},
                   {"expired_partitions", t.expired_partitions},
                   {"group_lag", t.group_lag}});
  }
  return out;
}

}  // namespace

std::string StatusJson(const RunStatus& s) {
  nlohmann::ordered_json tables = nlohmann::ordered_json::array();
  for (const mirror::TableStatus& t : s.tables) {
    tables.push_back({{"table", t.def.name.Display()},
                      {"state", t.state},
                      {"reason", t.reason},
                      {"schema_version", t.version},
                      {"rows",
                       {{"insert", t.inserts},
                        {"update", t.updates},
                        {"delete", t.deletes},
                        {"truncate", t.truncates}}},
                      {"skipped", t.skipped}});
  }
  nlohmann::ordered_json out = {
      {"slot",
       {{"name", s.slot},
        {"received_lsn", s.received.ToString()},
        {"confirmed_lsn", s.confirmed.ToString()},
        {"lag_bytes", s.slot_lag_bytes}}},
      {"transactions", s.transactions},
      {"changes", s.changes},
      {"reconnects", s.reconnects},
      {"archive",
       {{"watermark", s.archive_watermark.ToString()},
        {"commits", s.archive_commits},
        {"bytes", s.archive_bytes},
        {"last_flush", Time(s.archive_last_flush)}}},
      {"mirror",
       {{"watermark", s.mirror_watermark.ToString()}, {"last_merge", Time(s.mirror_last_merge)}}},
      {"tables", std::move(tables)},
      {"topics", TopicsJson(s.topics)},
      {"snapshot", SnapshotJson(s.snapshot)},
      {"canary",
       {{"enabled", s.canary.enabled},
        {"fresh", s.canary.fresh},
        {"stuck", s.canary.stuck},
        {"mirror_age_s", s.canary.mirror_age},
        {"archive_age_s", s.canary.archive_age},
        {"latency_s", s.canary.last_latency}}},
      {"verify",
       {{"chunks", s.verify.chunks},
        {"last_success", Time(s.verify.last_success)},
        {"different_tables",
         [&] {
           std::vector<std::string> names;
           for (const auto& [table, at] : s.verify.different) names.push_back(table);
           return names;
         }()}}},
      {"started_at", Time(s.started_at)},
      {"updated_at", Time(s.updated_at)}};
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace {

void TopicsText(std::string& out, const std::vector<topics::TopicStats>& topics) {
  if (topics.empty()) return;
  Metric(out, "walden_topic_messages_total", "counter", "Messages produced to each topic.");
  for (const auto& t : topics) {
    out += fmt::format("walden_topic_messages_total{{topic=\"{}\"}} {}\n", t.topic, t.messages);
  }
  Metric(out, "walden_topic_bytes", "gauge",
         "Bytes of each topic: hot in PostgreSQL, or archived (live Parquet files).");
  for (const auto& t : topics) {
    out += fmt::format("walden_topic_bytes{{topic=\"{}\",where=\"postgres\"}} {}\n", t.topic,
                       t.hot_bytes);
    out += fmt::format("walden_topic_bytes{{topic=\"{}\",where=\"archive\"}} {}\n", t.topic,
                       t.archived_bytes);
  }
  Metric(out, "walden_topic_expired_partitions", "gauge",
         "Time partitions past retention not dropped yet (waiting for the archive or a lock).");
  for (const auto& t : topics) {
    out += fmt::format("walden_topic_expired_partitions{{topic=\"{}\"}} {}\n", t.topic,
                       t.expired_partitions);
  }
  Metric(out, "walden_topic_group_lag", "gauge", "Messages each consumer group has yet to read.");
  for (const auto& t : topics) {
    for (const auto& [group, lag] : t.group_lag) {
      out += fmt::format("walden_topic_group_lag{{topic=\"{}\",group=\"{}\"}} {}\n", t.topic,
                         Label(group), lag);
    }
  }
}

}  // namespace

std::string PrometheusText(const RunStatus& s, const Histograms& h) {
  std::string out;
  Metric(out, "walden_transactions_total", "counter", "Source transactions received.");
  out += fmt::format("walden_transactions_total {}\n", s.transactions);
  Metric(out, "walden_changes_total", "counter", "Row changes received.");
  out += fmt::format("walden_changes_total {}\n", s.changes);
  Metric(out, "walden_reconnects_total", "counter", "Replication connections re-established.");
  out += fmt::format("walden_reconnects_total {}\n", s.reconnects);
  Metric(out, "walden_feed_clients", "gauge", "Live-feed (Server-Sent Events) clients connected.");
  out += fmt::format("walden_feed_clients {}\n", s.feed_clients);
  Metric(out, "walden_feed_dropped_total", "counter",
         "Live-feed clients dropped because they fell behind.");
  out += fmt::format("walden_feed_dropped_total {}\n", s.feed_dropped);
  Metric(out, "walden_feed_buffered_bytes", "gauge",
         "Events the live feeds keep for their clients (at most 32 MB per watched table).");
  out += fmt::format("walden_feed_buffered_bytes {}\n", s.feed_buffered);
  Metric(out, "walden_received_lsn_bytes", "gauge", "End of the WAL received, as a byte position.");
  out += fmt::format("walden_received_lsn_bytes {}\n", s.received.value);
  Metric(out, "walden_confirmed_lsn_bytes", "gauge", "Position confirmed to PostgreSQL.");
  out += fmt::format("walden_confirmed_lsn_bytes {}\n", s.confirmed.value);
  if (s.slot_lag_bytes >= 0) {
    Metric(out, "walden_slot_lag_bytes", "gauge", "WAL the slot holds for walden.");
    out += fmt::format("walden_slot_lag_bytes {}\n", s.slot_lag_bytes);
  }
  Metric(out, "walden_sink_watermark_lsn_bytes", "gauge",
         "Commit LSN of the last transaction each sink made durable.");
  out += fmt::format("walden_sink_watermark_lsn_bytes{{sink=\"archive\"}} {}\n",
                     s.archive_watermark.value);
  out += fmt::format("walden_sink_watermark_lsn_bytes{{sink=\"mirror\"}} {}\n",
                     s.mirror_watermark.value);
  Metric(out, "walden_archive_bytes", "gauge", "Size of the archive's live Parquet files.");
  out += fmt::format("walden_archive_bytes {}\n", s.archive_bytes);
  Metric(out, "walden_archive_commits_total", "counter", "Manifest commits of the archive.");
  out += fmt::format("walden_archive_commits_total {}\n", s.archive_commits);
  Metric(out, "walden_mirror_rows_total", "counter", "Changes merged into the mirror, by op.");
  for (const mirror::TableStatus& t : s.tables) {
    const std::string table = Label(t.def.name.Display());
    for (auto [op, rows] : {std::pair{"insert", t.inserts}, std::pair{"update", t.updates},
                            std::pair{"delete", t.deletes}, std::pair{"truncate", t.truncates}}) {
      out +=
          fmt::format("walden_mirror_rows_total{{table=\"{}\",op=\"{}\"}} {}\n", table, op, rows);
    }
  }
  Metric(out, "walden_table_schema_version", "gauge", "Schema version of each mirrored table.");
  for (const mirror::TableStatus& t : s.tables) {
    out += fmt::format("walden_table_schema_version{{table=\"{}\",state=\"{}\"}} {}\n",
                       Label(t.def.name.Display()), t.state, t.version);
  }
  TopicsText(out, s.topics);
  Metric(out, "walden_snapshot_active", "gauge", "1 while a snapshot job runs.");
  out += fmt::format("walden_snapshot_active {}\n", s.snapshot.job.empty() ? 0 : 1);
  if (!s.snapshot.tables.empty()) {
    Metric(out, "walden_snapshot_rows", "gauge",
           "Rows the running snapshot delivered so far, and the estimate, per table.");
    for (const snapshot::TableProgress& t : s.snapshot.tables) {
      const std::string table = Label(t.name.Display());
      out +=
          fmt::format("walden_snapshot_rows{{table=\"{}\",of=\"delivered\"}} {}\n", table, t.rows);
      out += fmt::format("walden_snapshot_rows{{table=\"{}\",of=\"estimated\"}} {}\n", table,
                         t.estimated_rows);
    }
  }
  if (s.canary.enabled) {
    Metric(out, "walden_canary_age_seconds", "gauge",
           "Age of the newest heartbeat visible in each sink.");
    out += fmt::format("walden_canary_age_seconds{{sink=\"mirror\"}} {}\n", s.canary.mirror_age);
    out += fmt::format("walden_canary_age_seconds{{sink=\"archive\"}} {}\n", s.canary.archive_age);
    Metric(out, "walden_canary_fresh", "gauge", "1 when every sink shows a recent heartbeat.");
    out += fmt::format("walden_canary_fresh {}\n", s.canary.fresh ? 1 : 0);
  }
  Metric(out, "walden_errors_total", "counter",
         "Failures walden retried, by where they happened and their kind.");
  for (const auto& [where_kind, count] : s.errors) {
    const size_t slash = where_kind.find('/');
    out += fmt::format("walden_errors_total{{where=\"{}\",kind=\"{}\"}} {}\n",
                       where_kind.substr(0, slash), where_kind.substr(slash + 1), count);
  }
  Metric(out, "walden_verify_chunks_total", "counter",
         "Chunks walden verify compared with the source, by result.");
  for (const char* result : {"equal", "different", "skipped"}) {
    const auto it = s.verify.chunks.find(result);
    out += fmt::format("walden_verify_chunks_total{{result=\"{}\"}} {}\n", result,
                       it == s.verify.chunks.end() ? 0 : it->second);
  }
  Metric(out, "walden_verify_different_tables", "gauge",
         "Tables whose latest verify found rows that differ from the source.");
  out += fmt::format("walden_verify_different_tables {}\n", s.verify.different.size());
  if (s.verify.last_success > 0) {
    Metric(out, "walden_verify_last_success_timestamp_seconds", "gauge",
           "When the last verify that found no difference ended.");
    out += fmt::format("walden_verify_last_success_timestamp_seconds {}\n",
                       s.verify.last_success / 1000000);
  }
  HistogramText(out, "walden_commit_to_mirror_seconds",
                "Source commit to visible in the mirror, per transaction.", h.commit_to_mirror);
  HistogramText(out, "walden_mirror_merge_seconds", "Duration of each mirror merge.",
                h.mirror_merge);
  HistogramText(out, "walden_commit_to_archive_seconds",
                "Source commit to durable in the archive, per transaction with rows.",
                h.commit_to_archive);
  HistogramText(out, "walden_archive_flush_seconds", "Duration of each archive flush.",
                h.archive_flush);
  return out;
}

}  // namespace walden::pipeline
