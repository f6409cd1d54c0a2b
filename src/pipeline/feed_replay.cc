#include "pipeline/feed_replay.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "change/change.h"
#include "common/identifiers.h"
#include "pipeline/http_api.h"

namespace walden::pipeline {
namespace {

using Json = nlohmann::ordered_json;

// A column's value in the event: numbers, booleans, lists and JSON as JSON, as the live
// feed types them, else DuckDB's text form.
std::string ValueSql(const std::string& name) {
  const std::string column = QuoteIdent(name);
  return fmt::format(
      "CASE WHEN typeof({0}) IN ('BOOLEAN', 'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', "
      "'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'FLOAT', 'DOUBLE', 'JSON') OR typeof({0}) "
      "LIKE '%[]' THEN to_json({0}) ELSE to_json(CAST({0} AS VARCHAR)) END",
      column);
}

// The source columns of the history table in the window, in order; empty when the window
// holds nothing.
Result<std::vector<std::string>> Columns(duck::Database& database, store::ObjectStore& store,
                                         const archive::ArchiveState& state, const Config& config,
                                         const std::string& from, const std::string& window) {
  auto probe = query::RunWithHistory(
      database, store, state, "SELECT * FROM " + from + " WHERE " + window + " LIMIT 1",
      query::OutputFormat::kJsonLines, {.cache_dir = HistoryCache(config)}, QueryBounds(config));
  if (!probe) return std::unexpected(probe.error());
  std::vector<std::string> columns;
  const Json row = Json::parse(probe->output, nullptr, false);
  if (row.is_discarded() || !row.is_object()) return columns;
  for (const auto& [name, value] : row.items()) {
    if (!name.starts_with(change::kReservedPrefix)) columns.push_back(name);
  }
  return columns;
}

}  // namespace

std::string HistoryWindow(feed::EventId after, feed::EventId until) {
  return fmt::format(
      "_walden_lsn >= {0} AND _walden_lsn <= {1} AND (_walden_lsn > {0} OR _walden_seq > {2})",
      after.lsn, until.lsn, after.seq);
}

Result<ReplayedEvents> ReplayFromArchive(duck::Database& database, store::ObjectStore& store,
                                         const archive::ArchiveState& state, const Config& config,
                                         const QualifiedName& table, feed::EventId after,
                                         feed::EventId until, Lsn confirmed) {
  // Every row change of a transaction that ended at or before either is in the archive.
  const Lsn archived = std::max(state.watermark.end_lsn, confirmed);
  ReplayedEvents replayed{.covered = std::min(until, feed::EventId{archived.value, INT64_MAX})};
  if (replayed.covered <= after) return replayed;
  const std::string from = "history." + table.ToSql();
  const std::string window =
      HistoryWindow(after, replayed.covered) + " AND _walden_op IN ('c', 'u', 'd', 't')";
  auto columns = Columns(database, store, state, config, from, window);
  if (!columns) return std::unexpected(columns.error());
  if (columns->empty()) return replayed;
  std::string row;
  for (const std::string& name : *columns) {
    row += fmt::format("{}{}, {}", row.empty() ? "" : ", ", QuoteLiteral(name), ValueSql(name));
  }
  const std::string sql = fmt::format(
      "SELECT _walden_lsn AS l, _walden_seq AS s, json_object('op', CASE _walden_op WHEN 'c' "
      "THEN 'insert' WHEN 'u' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'truncate' END, "
      "'table', {0}, 'lsn', printf('%X/%X', _walden_lsn >> 32, _walden_lsn & 4294967295), "
      "'commit_time', strftime(timezone('UTC', _walden_commit_ts), '%Y-%m-%dT%H:%M:%S.%fZ'), "
      "CASE _walden_op WHEN 'd' THEN 'before' ELSE 'row' END, json_object({1}), "
      "'unchanged', to_json(_walden_unchanged)) AS data FROM {2} WHERE {3} "
      "ORDER BY _walden_lsn, _walden_seq",
      QuoteLiteral(table.Display()), row, from, window);
  auto answer = query::RunWithHistory(database, store, state, sql, query::OutputFormat::kJsonLines,
                                      {.cache_dir = HistoryCache(config)}, QueryBounds(config));
  if (!answer) return std::unexpected(answer.error());
  std::istringstream lines(answer->output);
  for (std::string line; std::getline(lines, line);) {
    const Json out = Json::parse(line, nullptr, false);
    if (out.is_discarded()) continue;
    Json data = Json::parse(out.value("data", ""), nullptr, false);
    if (data.is_discarded()) continue;
    if (data["op"] == "truncate") {
      data.erase("row");
      data.erase("before");
    }
    if (!data["unchanged"].is_array() || data["unchanged"].empty()) data.erase("unchanged");
    replayed.events.push_back(
        {.id = {std::stoull(out.value("l", "0")), std::stoll(out.value("s", "0"))},
         .data = data.dump()});
  }
  return replayed;
}

}  // namespace walden::pipeline
