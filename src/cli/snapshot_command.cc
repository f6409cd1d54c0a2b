// `walden snapshot` (queue tables for an online snapshot; follow its progress) and
// `walden resync` (recover from a lost slot: new slot, snapshot of everything).
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "pg/catalog.h"
#include "pg/replication.h"
#include "pipeline/initial_load.h"
#include "pipeline/positions.h"
#include "pipeline/runner.h"
#include "server/http_server.h"
#include "snapshot/job.h"
#include "snapshot/online.h"
#include "topics/schema.h"

namespace walden::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The published tables the selectors name (all of them without selectors); creates the
// publication, and the slot when `create_slot`.
Result<std::vector<QualifiedName>> Selected(const Config& config,
                                            const std::vector<TableSelector>& selectors,
                                            bool create_slot = false) {
  auto rep = pg::ReplicationConnection::Open(config.source.url);
  if (!rep) return std::unexpected(rep.error());
  auto tables = pg::ResolveTables(rep->sql(), config.source.tables);
  if (!tables) return std::unexpected(tables.error());
  if (auto ok = rep->EnsurePublication(config.source.publication, *tables); !ok) {
    return std::unexpected(ok.error());
  }
  if (create_slot) {
    auto slot = rep->EnsureSlot({.name = config.source.slot, .failover = config.source.failover});
    if (!slot) return std::unexpected(slot.error());
  }
  auto conn = pg::Connection::Open(config.source.url);  // the replication one has no $1
  if (!conn) return std::unexpected(conn.error());
  auto publications = topics::CapturedPublications(*conn, config.source.publication);
  if (!publications) return std::unexpected(publications.error());
  auto published = snapshot::PublishedTables(*conn, *publications);
  if (!published) return std::unexpected(published.error());
  std::vector<QualifiedName> chosen;
  for (const QualifiedName& name : *published) {
    for (const TableSelector& selector : selectors) {
      if (selector.Matches(name)) chosen.push_back(name);
    }
    if (selectors.empty()) chosen.push_back(name);
  }
  for (const TableSelector& selector : selectors) {
    if (!std::ranges::any_of(chosen, [&](const QualifiedName& n) { return selector.Matches(n); })) {
      return Fail(ErrorKind::kNotFound, selector.Display() + " is not captured (publication " +
                                            config.source.publication + ")");
    }
  }
  return chosen;
}

// Adds tables to the job file of a stopped walden; `walden run` takes them.
Status Enqueue(const Config& config, const std::vector<QualifiedName>& tables,
               const std::string& reason) {
  const std::string path = pipeline::SnapshotJobPath(config.data_dir);
  auto loaded = snapshot::LoadJob(path);
  if (!loaded) return std::unexpected(loaded.error());
  snapshot::Job job = loaded->value_or(snapshot::Job{.id = snapshot::NewJobId(), .reason = reason});
  for (const QualifiedName& name : tables) {
    if (!job.Find(name)) job.tables.push_back({.name = name, .reset = true});
  }
  return snapshot::SaveJob(path, job);
}

std::string Bar(double fraction) {
  const int width = 30, filled = static_cast<int>(fraction * width);
  return std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(width - filled), '-');
}

// Follows job `id` through /api/status until walden says it finished, or walden stops.
int Follow(const std::string& address, const std::string& id, const std::string& token) {
  const bool terminal = isatty(STDERR_FILENO);
  const auto started = Clock::now();
  auto last_line = started;
  int64_t rows = 0, estimated = 0;
  auto text = [](const nlohmann::json& object, const char* key) {
    return object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : "";
  };
  for (;;) {
    auto response = server::Get(address, "/api/status", token);
    if (!response) return ReportError(response.error());
    const auto status = nlohmann::json::parse(response->body, nullptr, false);
    const auto& job =
        status.is_object() && status.contains("snapshot") ? status["snapshot"] : nlohmann::json();
    if (job.is_object() && job.contains("finished") && job["finished"].is_array() &&
        std::ranges::find(job["finished"], nlohmann::json(id)) != job["finished"].end()) {
      break;
    }
    // The status walden published before it took the request does not name the job yet.
    if (!job.is_object() || text(job, "job") != id) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    rows = estimated = 0;
    for (const auto& table : job["tables"]) {
      rows += table.value("rows", int64_t{0});
      estimated += table.value("estimated_rows", int64_t{0});
    }
    estimated = std::max(estimated, rows);
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    const double rate = rows / std::max(seconds, 1e-3);
    const double fraction = estimated > 0 ? static_cast<double>(rows) / estimated : 0;
    const std::string eta =
        rate > 0 && estimated > rows ? fmt::format("{:.0f} s", (estimated - rows) / rate) : "-";
    const std::string line = fmt::format("{} {:3.0f}%  {} / ~{} rows  {:.0f} rows/s  ETA {}",
                                         Bar(fraction), fraction * 100, rows, estimated, rate, eta);
    if (terminal) {
      fmt::print(stderr, "\r{}", line);
    } else if (Clock::now() - last_line > std::chrono::seconds(2)) {
      last_line = Clock::now();
      fmt::print(stderr, "{}\n", line);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (terminal) fmt::print(stderr, "\n");
  fmt::print("snapshot {} done\n", id);
  return 0;
}

}  // namespace

int SnapshotCommand(const Config& config, const SnapshotOptions& options) {
  if (options.tables.empty() && !options.all) {
    return ReportError({ErrorKind::kUsage,
                        "snapshot: name tables with --table (repeatable), or --all for every "
                        "captured table"});
  }
  if (config.snapshot.mode == SnapshotMode::kNever) {
    return ReportError({ErrorKind::kUsage,
                        "snapshot: snapshot.mode = never; set snapshot.mode = online (or "
                        "initial) to take snapshots"});
  }
  std::vector<TableSelector> selectors;
  for (const std::string& text : options.tables) {
    auto selector = ParseTableSelector(text);
    if (!selector) return ReportError(selector.error());
    selectors.push_back(std::move(*selector));
  }
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (lock) {  // walden is not running: the next `walden run` takes the snapshot
    auto tables = Selected(config, selectors);
    auto queued =
        tables ? Enqueue(config, *tables, "requested") : Status(std::unexpected(tables.error()));
    close(*lock);
    if (!queued) return ReportError(queued.error());
    fmt::print("queued {} tables; `walden run` snapshots them while streaming\n", tables->size());
    return 0;
  }
  if (lock.error().kind != ErrorKind::kUsage) return ReportError(lock.error());
  auto address = pipeline::RunningAddress(config.data_dir);
  if (!address) return ReportError(address.error());
  std::string body = options.all ? "*\n" : "";
  for (const TableSelector& selector : selectors) body += selector.Display() + "\n";
  auto response = server::Post(*address, "/api/snapshot", {}, body, config.server_token);
  if (!response) return ReportError(response.error());
  if (response->status != 200) return ReportError({ErrorKind::kUsage, response->body});
  const std::string id = response->body.substr(4, response->body.find('\n') - 4);
  if (!options.wait) {
    fmt::print("snapshot {} queued\n", id);
    return 0;
  }
  return Follow(*address, id, config.server_token);
}

int ResyncCommand(const Config& config) {
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (!lock) {
    return ReportError({ErrorKind::kUsage, lock.error().message});
  }
  // Held until the run ends: a `walden query` or `status` in between would take it.
  auto fail = [&](const Error& error) {
    close(*lock);
    return ReportError(error);
  };
  auto conn = pg::Connection::Open(config.source.url);
  if (!conn) return fail(conn.error());
  const std::optional<std::string> slot[] = {config.source.slot};
  auto found = conn->ExecParams(
      "SELECT active, coalesce(wal_status, '') FROM pg_catalog.pg_replication_slots WHERE "
      "slot_name = $1",
      slot);
  if (!found) return fail(found.error());
  if (found->rows() == 1) {
    if (found->Value(0, 0) == "t") {
      return fail({ErrorKind::kUsage, "resync: slot " + config.source.slot +
                                          " is in use by another reader; stop it first"});
    }
    spdlog::warn(
        "resync: dropping slot {} (wal_status {}); changes it held are re-read by the "
        "snapshot",
        config.source.slot, found->Value(0, 1).empty() ? "-" : found->Value(0, 1));
    if (auto dropped = conn->ExecParams("SELECT pg_catalog.pg_drop_replication_slot($1)", slot);
        !dropped) {
      return fail(dropped.error());
    }
  }
  auto tables = Selected(config, {}, /*create_slot=*/true);
  if (!tables) return fail(tables.error());
  // What walden confirmed belongs to the old slot; the snapshot re-reads every table.
  std::error_code ec;
  std::filesystem::remove(pipeline::ConfirmedPath(config.data_dir), ec);
  if (auto queued = Enqueue(config, *tables, "resync"); !queued) return fail(queued.error());
  spdlog::info("resync: new slot {}; snapshotting {} tables while streaming", config.source.slot,
               tables->size());
  return RunPipelineCommand(config, *lock);
}

}  // namespace walden::cli
