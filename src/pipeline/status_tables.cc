// walden_status.* for queries (docs/queries.md, "Status tables"): the running walden's status
// as tables, so "is every table still receiving changes" is one SELECT beside the data.
#include <fmt/core.h>

#include "common/identifiers.h"
#include "common/strings.h"
#include "common/units.h"
#include "pipeline/status.h"

namespace walden::pipeline {
namespace {

using Cell = std::optional<std::string>;

Cell Number(int64_t value) { return std::to_string(value); }
Cell Time(int64_t unix_micros) {
  if (unix_micros == 0) return std::nullopt;
  return FormatUtcTime(unix_micros);
}
Cell Position(Lsn lsn) { return lsn.ToString(); }

}  // namespace

std::vector<query::StatusTable> StatusTables(const RunStatus& s) {
  std::vector<query::StatusTable> out;
  out.reserve(5);  // the references below stay valid
  query::StatusTable& slot =
      out.emplace_back(query::StatusTable{.name = "slot",
                                          .columns = {{"slot_name", "VARCHAR"},
                                                      {"received_lsn", "VARCHAR"},
                                                      {"confirmed_lsn", "VARCHAR"},
                                                      {"lag_bytes", "BIGINT"},
                                                      {"transactions", "BIGINT"},
                                                      {"changes", "BIGINT"},
                                                      {"reconnects", "BIGINT"},
                                                      {"started_at", "TIMESTAMPTZ"},
                                                      {"updated_at", "TIMESTAMPTZ"}},
                                          .rows = {}});
  slot.rows.push_back(
      {s.slot, Position(s.received), Position(s.confirmed),
       s.slot_lag_bytes < 0 ? Cell{} : Number(s.slot_lag_bytes),
       Number(static_cast<int64_t>(s.transactions)), Number(static_cast<int64_t>(s.changes)),
       Number(static_cast<int64_t>(s.reconnects)), Time(s.started_at), Time(s.updated_at)});
  out.push_back({.name = "sinks",
                 .columns = {{"sink", "VARCHAR"},
                             {"watermark_lsn", "VARCHAR"},
                             {"last_commit_at", "TIMESTAMPTZ"},
                             {"commits", "BIGINT"},
                             {"bytes", "BIGINT"},
                             {"heartbeat_age_s", "DOUBLE"}},
                 .rows = {}});
  const bool canary = s.canary.enabled;
  out.back().rows.push_back({"archive", Position(s.archive_watermark), Time(s.archive_last_flush),
                             Number(static_cast<int64_t>(s.archive_commits)),
                             Number(s.archive_bytes),
                             canary ? Cell{fmt::format("{}", s.canary.archive_age)} : Cell{}});
  out.back().rows.push_back({"mirror", Position(s.mirror_watermark), Time(s.mirror_last_merge),
                             std::nullopt, std::nullopt,
                             canary ? Cell{fmt::format("{}", s.canary.mirror_age)} : Cell{}});
  query::StatusTable& tables =
      out.emplace_back(query::StatusTable{.name = "tables",
                                          .columns = {{"table_schema", "VARCHAR"},
                                                      {"table_name", "VARCHAR"},
                                                      {"state", "VARCHAR"},
                                                      {"reason", "VARCHAR"},
                                                      {"schema_version", "INTEGER"},
                                                      {"inserts", "BIGINT"},
                                                      {"updates", "BIGINT"},
                                                      {"deletes", "BIGINT"},
                                                      {"truncates", "BIGINT"},
                                                      {"skipped", "BIGINT"}},
                                          .rows = {}});
  for (const mirror::TableStatus& t : s.tables) {
    tables.rows.push_back({t.def.name.schema, t.def.name.name, t.state,
                           t.reason.empty() ? Cell{} : Cell{t.reason}, Number(t.version),
                           Number(t.inserts), Number(t.updates), Number(t.deletes),
                           Number(t.truncates), Number(t.skipped)});
  }
  query::StatusTable& topics =
      out.emplace_back(query::StatusTable{.name = "topics",
                                          .columns = {{"topic", "VARCHAR"},
                                                      {"partitions", "INTEGER"},
                                                      {"messages", "BIGINT"},
                                                      {"postgres_bytes", "BIGINT"},
                                                      {"archive_bytes", "BIGINT"},
                                                      {"time_partitions", "INTEGER"},
                                                      {"expired_partitions", "INTEGER"}},
                                          .rows = {}});
  query::StatusTable& groups = out.emplace_back(query::StatusTable{
      .name = "groups",
      .columns = {{"topic", "VARCHAR"}, {"group_name", "VARCHAR"}, {"lag", "BIGINT"}},
      .rows = {}});
  for (const topics::TopicStats& t : s.topics) {
    topics.rows.push_back({t.topic, Number(t.partitions), Number(t.messages), Number(t.hot_bytes),
                           Number(t.archived_bytes), Number(t.time_partitions),
                           Number(t.expired_partitions)});
    for (const auto& [group, lag] : t.group_lag) {
      groups.rows.push_back({t.topic, group, Number(lag)});
    }
  }
  return out;
}

Result<std::vector<query::StatusTable>> StoppedStatusTables(duck::Database& database,
                                                            const std::string& catalog) {
  auto conn = duck::Connection::Open(database);
  if (!conn) return std::unexpected(conn.error());
  auto rows = conn->Query(fmt::format(
      "SELECT schema_name, table_name, state, reason, version::VARCHAR, inserts::VARCHAR, "
      "updates::VARCHAR, deletes::VARCHAR, truncates::VARCHAR FROM {}.walden.tables ORDER BY 1, 2",
      QuoteIdent(catalog)));
  if (!rows) return std::unexpected(rows.error());
  RunStatus stopped;
  for (size_t r = 0; r < rows->rows(); ++r) {
    auto number = [&](size_t c) {
      return static_cast<int64_t>(ParseUint64(rows->Text(r, c).value_or("0")).value_or(0));
    };
    stopped.tables.push_back(
        {.def = {.name = {rows->Text(r, 0).value_or(""), rows->Text(r, 1).value_or("")}},
         .state = rows->Text(r, 2).value_or(""),
         .reason = rows->Text(r, 3).value_or(""),
         .version = static_cast<int>(number(4)),
         .inserts = number(5),
         .updates = number(6),
         .deletes = number(7),
         .truncates = number(8)});
  }
  std::vector<query::StatusTable> out = StatusTables(stopped);
  for (query::StatusTable& table : out) {
    if (table.name == "slot" || table.name == "sinks") table.rows.clear();  // nothing runs
  }
  return out;
}

}  // namespace walden::pipeline
