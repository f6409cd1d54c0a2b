#include "pipeline/verify_api.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/strings.h"
#include "common/units.h"

namespace walden::pipeline {

void VerifyStats::Count(const verify::ChunkReport& report, VerifyRun& run) {
  bool& different = run[report.table.Display()];
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

VerifySchedule::VerifySchedule(const Config& config, duck::Database& mirror, VerifyStats& stats,
                               const std::atomic<bool>& stop)
    : config_(config),
      mirror_(mirror),
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
    Status done =
        verify::Verify(mirror_, {}, {.conninfo = config_.source.url, .cancelled = stopping},
                       [&](const verify::ChunkReport& chunk) {
                         stats_.Count(chunk, run);
                         if (chunk.outcome == verify::Outcome::kDifferent) {
                           clean = false;
                           spdlog::error("verify: {}", verify::ReportText(chunk));
                         }
                       });
    if (stopping()) return;
    if (!done) {
      spdlog::warn("verify: the scheduled verify failed: {}; trying again in {}",
                   done.error().message, FormatDuration(config_.verify.interval));
      continue;
    }
    stats_.Finished(run);
    spdlog::info("verify: scheduled verify done: {}", clean ? "every table equal" : "DIFFERENCES");
  }
}

namespace {

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

server::Route VerifyRoute(const Config& config, duck::Database& mirror, VerifyStats& stats,
                          const std::atomic<bool>& stop,
                          std::function<std::string(const std::string&)> on_snapshot) {
  auto handler = [&config, &mirror, &stats, &stop,
                  on_snapshot = std::move(on_snapshot)](const server::Request& request) {
    auto tables = RequestedTables(request);
    if (!tables) return server::Response{.status = 400, .body = tables.error().message + "\n"};
    const bool json = request.params.contains("format") && request.params.at("format") == "json";
    const bool repair = request.params.contains("repair") && request.params.at("repair") == "true";
    auto gone = [client_gone = request.client_gone, &stop] { return stop || client_gone(); };
    server::Response response{.content_type =
                                  json ? "application/x-ndjson" : "text/plain; charset=utf-8"};
    response.stream = [&config, &mirror, &stats, on_snapshot, tables = std::move(*tables), json,
                       repair, gone](const server::StreamWrite& write) {
      std::map<std::string, int64_t> outcomes;
      std::set<std::string> different;
      VerifyRun run;
      auto report = [&](const verify::ChunkReport& chunk) {
        stats.Count(chunk, run);
        ++outcomes[std::string(verify::OutcomeName(chunk.outcome))];
        if (chunk.outcome == verify::Outcome::kDifferent) {
          different.insert(chunk.table.Display());
          spdlog::error("verify: {}", verify::ReportText(chunk));
        }
        (void)write((json ? verify::ReportJson(chunk) : verify::ReportText(chunk)) + "\n");
      };
      spdlog::info("verify: started ({})", tables.empty()
                                               ? std::string("every table")
                                               : std::to_string(tables.size()) + " tables");
      Status done = verify::Verify(mirror, tables,
                                   {.conninfo = config.source.url, .cancelled = gone}, report);
      const bool clean = done && different.empty();
      if (done) stats.Finished(run);
      std::string repaired;
      if (done && repair && !different.empty()) {
        repaired = OneLine(
            on_snapshot(Join(std::vector<std::string>(different.begin(), different.end()), "\n")));
      }
      nlohmann::ordered_json summary = {
          {"result", !done   ? "failed"
                     : clean ? "equal"
                             : "different"},
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
