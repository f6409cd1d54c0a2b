#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "common/lsn.h"
#include "common/units.h"
#include "pg/capture.h"
#include "pg/catalog.h"
#include "pipeline/positions.h"

namespace walden::cli {
namespace {

std::string Timestamp(int64_t pg_micros) { return FormatUtcTime(PgTimeToUnixMicros(pg_micros)); }

// Column values in PostgreSQL's text form; NULL as null; unchanged TOAST values omitted
// and listed under "unchanged".
nlohmann::json Row(const pg::RelationInfo& rel, const pg::pgoutput::Tuple& tuple,
                   nlohmann::json* unchanged) {
  nlohmann::json row = nlohmann::json::object();
  for (size_t i = 0; i < tuple.size() && i < rel.columns.size(); ++i) {
    const std::string& name = rel.columns[i].name;
    switch (tuple.values[i].kind) {
      case pg::pgoutput::ValueKind::kNull:
        row[name] = nullptr;
        break;
      case pg::pgoutput::ValueKind::kUnchangedToast:
        if (unchanged) unchanged->push_back(name);
        break;
      default:
        row[name] = std::string(tuple.Data(i));
    }
  }
  return row;
}

nlohmann::json ChangeJson(const pg::Change& change) {
  static constexpr const char* kOps[] = {"c", "u", "d", "t", "m", "s", "r", "reset"};
  nlohmann::json out = {{"op", kOps[static_cast<int>(change.kind)]}};
  if (change.relation) out["table"] = change.relation->name.Display();
  switch (change.kind) {
    case pg::Change::Kind::kReset:  // walden's own: never in a captured stream
    case pg::Change::Kind::kRefillStart:
    case pg::Change::Kind::kRefillDone:
      break;
    case pg::Change::Kind::kInsert:
    case pg::Change::Kind::kRead:
    case pg::Change::Kind::kUpdate: {
      nlohmann::json unchanged = nlohmann::json::array();
      out["new"] = Row(*change.relation, change.new_tuple, &unchanged);
      if (!unchanged.empty()) out["unchanged"] = unchanged;
      if (change.old_kind) out["old"] = Row(*change.relation, change.old_tuple, nullptr);
      break;
    }
    case pg::Change::Kind::kDelete:
      out["old"] = Row(*change.relation, change.old_tuple, nullptr);
      break;
    case pg::Change::Kind::kTruncate: {
      nlohmann::json tables = nlohmann::json::array();
      for (const auto& rel : change.truncated) tables.push_back(rel->name.Display());
      out["tables"] = tables;
      out["cascade"] = (change.truncate_options & 1) != 0;
      out["restart_identity"] = (change.truncate_options & 2) != 0;
      break;
    }
    case pg::Change::Kind::kMessage:
      out["prefix"] = change.prefix;
      out["content"] = change.content;
      break;
    case pg::Change::Kind::kSchemaChange:
      out["version"] = change.relation->version;
      out["added"] = change.schema_change.added;
      out["dropped"] = change.schema_change.dropped;
      out["retyped"] = change.schema_change.retyped;
      out["key_changed"] = change.schema_change.key_changed;
      break;
  }
  return out;
}

bool Selected(const pg::Change& change, const std::vector<TableSelector>& tables) {
  if (tables.empty()) return true;
  auto matches = [&](const QualifiedName& name) {
    return std::any_of(tables.begin(), tables.end(),
                       [&](const TableSelector& s) { return s.Matches(name); });
  };
  if (change.relation) return matches(change.relation->name);
  for (const auto& rel : change.truncated) {
    if (matches(rel->name)) return true;
  }
  return change.kind == pg::Change::Kind::kMessage;
}

}  // namespace

int TailCommand(const Config& config, const TailOptions& options) {
  if (config.source.url.empty()) {
    return ReportError({ErrorKind::kUsage,
                        "tail: no source database; pass --source URL, set WALDEN_SOURCE_URL or "
                        "source.url in walden.toml"});
  }
  std::vector<TableSelector> filter;
  for (const std::string& text : options.tables) {
    auto selector = ParseTableSelector(text);
    if (!selector)
      return ReportError({ErrorKind::kUsage, "tail: --table " + selector.error().message});
    filter.push_back(*selector);
  }
  // The slot of a `walden run` on this data directory: confirming changes here would take
  // them away from its mirror and archive for good.
  if (options.persistent && (std::filesystem::exists(pipeline::ConfirmedPath(config.data_dir)) ||
                             std::filesystem::exists(config.mirror.path))) {
    return ReportError(
        {ErrorKind::kUsage,
         fmt::format("tail --persistent: slot {} belongs to `walden run` (data_dir {} holds its "
                     "sinks); reading it here would take changes away from them. Drop "
                     "--persistent (tail then reads a temporary slot), or name another slot "
                     "with --source-slot and --data-dir",
                     config.source.slot, config.data_dir)});
  }
  auto conn = pg::Connection::Open(config.source.url);
  if (!conn) return ReportError(conn.error());
  auto tables = pg::ResolveTables(*conn, config.source.tables);
  if (!tables) return ReportError(tables.error());
  const bool temporary = !options.persistent;
  auto capture = pg::Capture::Start(
      {.conninfo = config.source.url,
       .slot = temporary ? fmt::format("walden_tail_{}", getpid()) : config.source.slot,
       .temporary_slot = temporary,
       .publication = config.source.publication,
       .tables = *tables,
       .failover = config.source.failover,
       .binary = false,
       .takeover = options.takeover,
       .memory_limit = static_cast<size_t>(config.source.memory_limit),
       .spill_dir = config.data_dir + "/spill",
       .status_interval =
           std::chrono::duration_cast<std::chrono::milliseconds>(config.source.status_interval)});
  if (!capture) return ReportError(capture.error());
  const std::atomic<bool>& stop = InstallStopHandlers();
  spdlog::info("tail: streaming from slot {} at {} (protocol {})",
               temporary ? "(temporary)" : config.source.slot,
               (*capture)->slot().confirmed_flush.ToString(), (*capture)->protocol_version());
  int64_t transactions = 0;
  auto print = [&](pg::CommittedTransaction&& txn) -> Status {
    const pg::TransactionInfo& info = txn.info();
    int64_t seq = 0;
    auto printed = txn.ForEach([&](const pg::Change& change) -> Status {
      const int64_t position = seq++;
      if (!Selected(change, filter)) return {};
      nlohmann::json line = ChangeJson(change);
      line["xid"] = info.xid;
      line["commit_lsn"] = info.commit_lsn.ToString();
      line["commit_time"] = Timestamp(info.commit_time);
      line["seq"] = position;
      fmt::print("{}\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return {};
    });
    if (!printed) return printed;
    std::fflush(stdout);
    (*capture)->Confirm(info.end_lsn);
    ++transactions;
    return {};
  };
  auto last_lag_check = std::chrono::steady_clock::now();
  while (!stop && (options.limit == 0 || transactions < options.limit)) {
    if (auto ok = (*capture)->Poll(std::chrono::milliseconds(200), print); !ok) {
      if (stop) break;
      return ReportError(ok.error());
    }
    if (!temporary &&
        std::chrono::steady_clock::now() - last_lag_check > config.source.status_interval) {
      last_lag_check = std::chrono::steady_clock::now();
      (void)(*capture)->CheckLag(config.source.lag_warn_bytes);
    }
  }
  (void)(*capture)->Flush();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  spdlog::info(
      "tail: {} transactions, {} changes, {} bytes spilled to disk, {} reconnects, "
      "peak RSS {} kB",
      transactions, (*capture)->stats().changes, (*capture)->spilled_bytes(),
      (*capture)->stats().reconnects, usage.ru_maxrss);
  return 0;
}

}  // namespace walden::cli
