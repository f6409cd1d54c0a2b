#include "pipeline/http_api.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <semaphore>

#include "common/strings.h"
#include "common/units.h"
#include "mirror/export.h"
#include "pipeline/archive_sink.h"
#include "pipeline/mirror_sink.h"
#include "pipeline/rebuild.h"
#include "pipeline/status.h"
#include "query/query.h"

namespace walden::pipeline {

namespace fs = std::filesystem;

constexpr std::ptrdiff_t kMaxQueries = 4;

// Serves the mirror's read API while the pipeline writes (query/query.h), and leaves its
// address in the data directory for `walden query`.
Result<std::unique_ptr<server::HttpServer>> StartHttpApi(
    const Config& config, duck::Database& database, const StatusBoard& board, MirrorSink& mirror,
    ArchiveSink& archive, store::ObjectStore& store, const query::ArchiveSnapshot& history,
    std::function<std::string(const std::string&)> on_snapshot, std::vector<server::Route> more) {
  // Queries take at most half of the HTTP threads: health checks and status never wait.
  auto running = std::make_shared<std::counting_semaphore<kMaxQueries>>(kMaxQueries);
  // A query that hit a damaged block: the mirror cannot be trusted, so walden is not ready.
  auto damaged = std::make_shared<std::atomic<bool>>(false);
  auto query = [&database, &config, &history, &store, &board, running,
                damaged](const server::Request& request) {
    auto format = query::ParseOutputFormat(
        request.params.contains("format") ? request.params.at("format") : "table");
    if (!format) return server::Response{.status = 400, .body = format.error().message};
    if (!running->try_acquire()) {
      return server::Response{
          .status = 503,
          .body = fmt::format("walden: {} queries are running; try again when one finished\n",
                              kMaxQueries)};
    }
    auto flag = [&](const char* name) {
      return request.params.contains(name) && request.params.at(name) == "true";
    };
    const auto state = history.Current();
    query::QueryOptions bounds = QueryBounds(config);
    bounds.cancelled = request.client_gone;
    bounds.status = StatusTables(board.Latest());
    auto output = query::RunWithHistory(database, store, *state, request.body, *format,
                                        {.dry_run = flag("dry_run"),
                                         .allow_full_scan = flag("allow_full_scan"),
                                         .rates = Rates(config),
                                         .cache_dir = HistoryCache(config),
                                         .cache_limit = config.query.cache_size,
                                         .rebuild_as_of = AsOfRebuilder(config)},
                                        std::move(bounds));
    running->release();
    if (!output) {
      const std::string& why = output.error().message;
      if (request.client_gone()) spdlog::info("query: {}", why);
      if (duck::IsDamage(why)) {
        damaged->store(true);
        spdlog::error(
            "mirror: a query found damaged data ({}); stop walden, move {} away and "
            "run `walden mirror rebuild`",
            OneLine(why), config.mirror.path);
      }
      return server::Response{.status = 400, .body = why};
    }
    server::Response response{.body = std::move(output->output)};
    if (!output->preview.empty()) {
      response.headers[std::string(query::kPreviewHeader)] = output->preview;
      spdlog::info("query: {}", output->preview);
    }
    return response;
  };
  auto publish = [&database, &config](const server::Request& request) -> server::Response {
    auto param = [&](const char* name, std::string fallback) {
      return request.params.contains(name) ? request.params.at(name) : fallback;
    };
    auto format = mirror::ParseExportFormat(param("format", "duckdb"));
    if (!format) return {.status = 400, .body = format.error().message};
    auto path = mirror::ExportTarget(config.mirror.export_dir, param("path", ""));
    if (!path) return {.status = 400, .body = path.error().message};
    if (auto done = mirror::Export(database, *path, *format, param("replace", "") == "true");
        !done) {
      return {.status = 400, .body = done.error().message};
    }
    return {.body = "exported the mirror to " + *path + "\n"};
  };
  std::vector<server::Route> routes =
      {{.method = "GET",
        .path = "/healthz",
        .handler = [](const server::Request&) { return server::Response{.body = "ok\n"}; },
        .open = true},
       {.method = "GET",
        .path = "/readyz",
        .handler =
            [&board, damaged](const server::Request&) {
              // Streaming (the run loop published lately), the canary fresh, the mirror whole.
              if (damaged->load()) {
                return server::Response{
                    .status = 503,
                    .body =
                        "mirror damaged: a query read a corrupt block; stop walden and run "
                        "`walden mirror rebuild`\n"};
              }
              const RunStatus status = board.Latest();
              if (UnixNowMicros() - status.updated_at > 5000000) {
                return server::Response{.status = 503, .body = "not streaming\n"};
              }
              if (!status.verify.different.empty()) {
                std::string tables;
                for (const auto& [table, at] : status.verify.different) {
                  tables += (tables.empty() ? "" : ", ") + table;
                }
                return server::Response{
                    .status = 503,
                    .body = fmt::format("verify found rows that differ from the source in {}; "
                                        "`walden verify --repair` re-snapshots them\n",
                                        tables)};
              }
              if (!status.canary.fresh) {
                return server::Response{
                    .status = 503,
                    .body = fmt::format("canary stale: stuck at the {}\n", status.canary.stuck)};
              }
              return server::Response{.body = "ready\n"};
            },
        .open = true},
       {.method = "GET",
        .path = "/api/status",
        .handler =
            [&board](const server::Request&) {
              return server::Response{.body = StatusJson(board.Latest()),
                                      .content_type = "application/json"};
            }},
       {.method = "GET",
        .path = "/metrics",
        .handler =
            [&board, &mirror, &archive](const server::Request&) {
              return server::Response{
                  .body = PrometheusText(board.Latest(),
                                         {.commit_to_mirror = mirror.latency().Take(),
                                          .mirror_merge = mirror.merge_duration().Take(),
                                          .commit_to_archive = archive.latency().Take(),
                                          .archive_flush = archive.flush_duration().Take()}),
                  .content_type = "text/plain; version=0.0.4"};
            }},
       {.method = "POST", .path = "/api/query", .handler = query},
       {.method = "POST",
        .path = "/api/snapshot",
        .handler =
            [on_snapshot](const server::Request& request) {
              std::string answer = on_snapshot(request.body);
              const bool taken = answer.starts_with("job ");
              return server::Response{.status = taken ? 200 : 400, .body = std::move(answer)};
            }},
       {.method = "POST", .path = "/api/mirror/export", .handler = publish}};
  std::ranges::move(more, std::back_inserter(routes));
  auto server = server::HttpServer::Start(config.server_listen, std::move(routes),
                                          {.token = config.server_token,
                                           .public_name = config.server_public_name,
                                           .stream_threads = config.server_max_feed_clients});
  if (!server) return server;
  if (!IsLoopbackListen(config.server_listen)) {
    spdlog::warn(
        "run: serving {} beyond this machine; every client needs server.token, and the "
        "token travels in clear over plain HTTP: put a TLS proxy in front for other networks",
        config.server_listen);
  }
  const std::string file = ServerFile(config.data_dir);
  std::ofstream(file + ".tmp")
      << nlohmann::json{{"address", (*server)->address()}, {"pid", getpid()}}.dump() << "\n";
  fs::rename(file + ".tmp", file);
  spdlog::info("run: serving http://{}", (*server)->address());
  return server;
}

std::string ServerFile(const std::string& data_dir) { return data_dir + "/server.json"; }

Result<std::string> RunningAddress(const std::string& data_dir) {
  std::ifstream file(ServerFile(data_dir));
  const nlohmann::json server = nlohmann::json::parse(file, nullptr, false);
  if (server.is_discarded() || !server.contains("address") || !server["address"].is_string()) {
    return Fail(ErrorKind::kConnection, "walden is running with data_dir " + data_dir +
                                            " but has not published its address yet; try again");
  }
  return server["address"].get<std::string>();
}

// config.data_dir is absolute (LoadConfig), as the contained mirror needs.
query::QueryOptions QueryBounds(const Config& config) {
  return {.max_bytes = static_cast<size_t>(config.query.max_result),
          .timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.query.timeout)};
}

query::Rates Rates(const Config& config) {
  return {.per_1000_requests = config.query.price_per_1000_requests,
          .per_gb = config.query.price_per_gb};
}

std::string HistoryCache(const Config& config) { return config.data_dir + "/history"; }

std::vector<std::string> QueryableDirectories(const Config& config) {
  std::vector<std::string> dirs = {config.data_dir + "/segments", HistoryCache(config),
                                   config.mirror.export_dir};
  if (config.archive.url.starts_with("file://")) dirs.push_back(config.archive.url.substr(7));
  for (const std::string& dir : dirs) {
    std::error_code ec;
    fs::create_directories(dir, ec);
  }
  return dirs;
}

}  // namespace walden::pipeline
