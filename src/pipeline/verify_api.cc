#include "pipeline/verify_api.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "common/strings.h"
#include "common/units.h"
#include "pipeline/rebuild.h"
#include "pipeline/status.h"
#include "store/object_store.h"

namespace walden::pipeline {

verify::ArchiveAccess ArchiveAccessFor(const Config& config, const StatusBoard& board,
                                       std::string scratch_dir) {
  verify::ArchiveAccess access;
  access.durable = [&board] { return board.Latest().archive_durable; };
  // The same one-table rebuild time travel uses (one thread, 256 MB, beside the stream).
  access.rebuild = [rebuild = AsOfRebuilder(config)](const QualifiedName& table, Lsn until,
                                                     const std::string& path) {
    return rebuild({.table = table, .at = until.ToString()}, path);
  };
  access.scratch_dir = std::move(scratch_dir);
  // A flush comes every flush interval; one that failed is retried after a pause.
  access.durable_timeout = std::max<std::chrono::milliseconds>(
      std::chrono::minutes(2),
      std::chrono::duration_cast<std::chrono::milliseconds>(config.archive.flush_interval * 3));
  return access;
}

std::string VerifyScratch(const Config& config) {
  static std::atomic<int> next{0};
  return fmt::format("{}/verify/{}", config.data_dir, ++next);
}

namespace {

// The archive's results are kept apart from the mirror's: "public.t (archive)".
std::string RunKey(const verify::ChunkReport& report) {
  return report.table.Display() + (report.target == verify::Target::kArchive ? " (archive)" : "");
}

// Runs one verify of the mirror, or of the archive in a scratch folder of its own.
Status RunVerify(const Config& config, duck::Database& mirror, const StatusBoard& board,
                 const std::vector<QualifiedName>& tables, bool archive,
                 std::function<bool()> cancelled,
                 const std::function<void(const verify::ChunkReport&)>& report) {
  if (!archive) {
    return verify::Verify(
        mirror, tables, {.conninfo = config.source.url, .cancelled = std::move(cancelled)}, report);
  }
  const std::string scratch = VerifyScratch(config);
  const verify::ArchiveAccess access = ArchiveAccessFor(config, board, scratch);
  Status done = verify::Verify(
      mirror, tables,
      {.conninfo = config.source.url, .cancelled = std::move(cancelled), .archive = &access},
      report);
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  return done;
}

}  // namespace

void VerifyStats::Count(const verify::ChunkReport& report, VerifyRun& run) {
  bool& different = run[RunKey(report)];
  different |= report.outcome == verify::Outcome::kDifferent;
  std::lock_guard lock(mutex_);
  ++counts_.chunks[std::string(verify::OutcomeName(report.outcome))];
}

void VerifyStats::Finished(const VerifyRun& run) {
  std::lock_guard lock(mutex_);
  bool clean = true;
  for (const auto& [table, different] : run) {
    clean &= !different;
    if (different) {
      counts_.different[table] = UnixNowMicros();
    } else {
      counts_.different.erase(table);
    }
  }
  if (clean) counts_.last_success = UnixNowMicros();
}

VerifyCounts VerifyStats::Latest() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

VerifySchedule::VerifySchedule(const Config& config, duck::Database& mirror,
                               const StatusBoard& board, VerifyStats& stats,
                               const std::atomic<bool>& stop)
    : config_(config),
      mirror_(mirror),
      board_(board),
      stats_(stats),
      stop_(stop),
      thread_([this](std::stop_token token) { Loop(std::move(token)); }) {}

VerifySchedule::~VerifySchedule() {
  thread_.request_stop();
  wake_.notify_all();
}

void VerifySchedule::Loop(std::stop_token token) {
  const auto stopping = [&] { return token.stop_requested() || stop_.load(); };
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, token, config_.verify.interval, [&] { return stop_.load(); });
    }
    if (stopping()) return;
    bool clean = true;
    VerifyRun run;
    auto count = [&](const verify::ChunkReport& chunk) {
      stats_.Count(chunk, run);
      if (chunk.outcome == verify::Outcome::kDifferent) {
        clean = false;
        spdlog::error("verify: {}", verify::ReportText(chunk));
      }
    };
    Status done = RunVerify(config_, mirror_, board_, {}, false, stopping, count);
    if (done && config_.verify.archive && !stopping()) {
      done = RunVerify(config_, mirror_, board_, {}, true, stopping, count);
    }
    if (stopping()) return;
    if (!done) {
      spdlog::warn("verify: the scheduled verify failed: {}; trying again in {}",
                   done.error().message, FormatDuration(config_.verify.interval));
      continue;
    }
    stats_.Finished(run);
    spdlog::info("verify: scheduled verify done ({}): {}",
                 config_.verify.archive ? "mirror and archive" : "mirror",
                 clean ? "every table equal" : "DIFFERENCES");
  }
}

namespace {

// What --repair re-reads: the keys found different, or whole tables where keys cannot say
// it (no key, or more than ChunkReport::kRepairKeys of them).
struct RepairPlan {
  KeyRepairs keys;
  std::set<std::string> whole;
};

void Plan(const verify::ChunkReport& chunk, RepairPlan& plan) {
  const std::string name = chunk.table.Display();
  auto& keys = plan.keys[chunk.table];
  const bool by_key = !chunk.repair_keys.empty() &&
                      static_cast<int64_t>(chunk.repair_keys.size()) == chunk.different &&
                      keys.size() + chunk.repair_keys.size() <= verify::ChunkReport::kRepairKeys;
  if (!by_key || plan.whole.contains(name)) {
    plan.whole.insert(name);
    plan.keys.erase(chunk.table);
    return;
  }
  keys.insert(keys.end(), chunk.repair_keys.begin(), chunk.repair_keys.end());
}

// Queues the plan: "job <id> (N keys of T, …)" or why not.
std::string Repair(RepairPlan plan, const std::function<std::string(const std::string&)>& snapshot,
                   const std::function<std::string(KeyRepairs)>& keys) {
  std::vector<std::string> done;
  if (!plan.whole.empty()) {
    done.push_back(
        OneLine(
            snapshot(Join(std::vector<std::string>(plan.whole.begin(), plan.whole.end()), "\n"))) +
        " (whole tables: " +
        Join(std::vector<std::string>(plan.whole.begin(), plan.whole.end()), ", ") + ")");
  }
  if (!plan.keys.empty()) {
    std::vector<std::string> what;
    for (const auto& [table, list] : plan.keys) {
      what.push_back(fmt::format("{} keys of {}", list.size(), table.Display()));
    }
    done.push_back(OneLine(keys(std::move(plan.keys))) + " (" + Join(what, ", ") + ")");
  }
  return Join(done, "; ");
}

// The tables a request names: one per line of the body, or ?table=… (repeatable by comma).
Result<std::vector<QualifiedName>> RequestedTables(const server::Request& request) {
  std::string list = request.body;
  if (request.params.contains("tables")) list += "\n" + request.params.at("tables");
  std::vector<QualifiedName> tables;
  for (std::string line : Split(list, '\n')) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line == "*") continue;
    auto selector = ParseTableSelector(line);
    if (!selector || !selector->table) {
      return Fail(ErrorKind::kUsage, fmt::format("\"{}\" is not a table (schema.table)", line));
    }
    tables.push_back({selector->schema, *selector->table});
  }
  return tables;
}

}  // namespace

server::Route VerifyRoute(const Config& config, duck::Database& mirror, const StatusBoard& board,
                          VerifyStats& stats, const std::atomic<bool>& stop,
                          std::function<std::string(const std::string&)> on_snapshot,
                          std::function<std::string(KeyRepairs)> on_repair) {
  auto handler = [&config, &mirror, &board, &stats, &stop, on_snapshot = std::move(on_snapshot),
                  on_repair = std::move(on_repair)](const server::Request& request) {
    auto tables = RequestedTables(request);
    if (!tables) return server::Response{.status = 400, .body = tables.error().message + "\n"};
    const bool json = request.params.contains("format") && request.params.at("format") == "json";
    const bool repair = request.params.contains("repair") && request.params.at("repair") == "true";
    const std::string target =
        request.params.contains("target") ? request.params.at("target") : "mirror";
    if (target != "mirror" && target != "archive") {
      return server::Response{.status = 400,
                              .body = "target is mirror or archive, not " + target + "\n"};
    }
    const bool archive = target == "archive";
    auto gone = [client_gone = request.client_gone, &stop] { return stop || client_gone(); };
    server::Response response{.content_type =
                                  json ? "application/x-ndjson" : "text/plain; charset=utf-8"};
    response.stream = [&config, &mirror, &board, &stats, on_snapshot, on_repair,
                       tables = std::move(*tables), json, repair, archive,
                       gone](const server::StreamWrite& write) {
      std::map<std::string, int64_t> outcomes;
      std::set<std::string> different;  // tables, as they are named to a snapshot
      RepairPlan repairs;
      VerifyRun run;
      auto report = [&](const verify::ChunkReport& chunk) {
        stats.Count(chunk, run);
        ++outcomes[std::string(verify::OutcomeName(chunk.outcome))];
        if (chunk.outcome == verify::Outcome::kDifferent) {
          different.insert(chunk.table.Display());
          Plan(chunk, repairs);
          spdlog::error("verify: {}", verify::ReportText(chunk));
        }
        (void)write((json ? verify::ReportJson(chunk) : verify::ReportText(chunk)) + "\n");
      };
      spdlog::info(
          "verify: started ({}, against the {})",
          tables.empty() ? std::string("every table") : std::to_string(tables.size()) + " tables",
          archive ? "archive" : "mirror");
      Status done = RunVerify(config, mirror, board, tables, archive, gone, report);
      const bool clean = done && different.empty();
      if (done) stats.Finished(run);
      std::string repaired;
      if (done && repair && !different.empty()) {
        repaired = Repair(std::move(repairs), on_snapshot, on_repair);
      }
      nlohmann::ordered_json summary = {
          {"result", !done   ? "failed"
                     : clean ? "equal"
                             : "different"},
          {"target", archive ? "archive" : "mirror"},
          {"chunks", outcomes},
          {"different_tables", std::vector<std::string>(different.begin(), different.end())},
          {"error", done ? "" : done.error().message},
          {"repair", repaired}};
      spdlog::info("verify: {}", summary.dump());
      if (json) {
        (void)write(nlohmann::ordered_json{{"summary", summary}}.dump() + "\n");
        return;
      }
      std::string line =
          !done ? "verify failed: " + done.error().message
                : fmt::format("verify: {} chunks equal, {} different, {} skipped",
                              outcomes["equal"], outcomes["different"], outcomes["skipped"]);
      if (!different.empty()) {
        line += "; different: " +
                Join(std::vector<std::string>(different.begin(), different.end()), ", ");
        line += repair ? "; repair: " + repaired : "; `walden verify --repair` re-snapshots them";
      }
      (void)write(line + "\n");
    };
    return response;
  };
  return {.method = "POST", .path = "/api/verify", .handler = std::move(handler)};
}

}  // namespace walden::pipeline
