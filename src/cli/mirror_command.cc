#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "archive/manifest.h"
#include "cli/commands.h"
#include "common/strings.h"
#include "mirror/export.h"
#include "pipeline/rebuild.h"
#include "pipeline/runner.h"
#include "pipeline/status.h"
#include "query/history.h"
#include "query/query.h"
#include "server/http_server.h"
#include "store/object_store.h"

namespace walden::cli {
namespace {

// Runs `local` over the mirror file (its path) when no walden holds the data directory;
// otherwise asks the running walden over HTTP (only one process may open a DuckDB file for
// writing, and while one has it open no other process may open it at all).
int OnMirror(const Config& config, const std::function<Result<std::string>()>& local,
             const std::string& path, const std::map<std::string, std::string>& params,
             const std::string& body) {
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (lock) {
    Result<std::string> output =
        Fail(ErrorKind::kNotFound, "there is no mirror at " + config.mirror.path +
                                       " yet; start `walden run` (or `walden mirror rebuild`)");
    if (std::filesystem::exists(config.mirror.path)) output = local();
    close(*lock);
    if (!output) return ReportError(output.error());
    fmt::print("{}", *output);
    return 0;
  }
  if (lock.error().kind != ErrorKind::kUsage) return ReportError(lock.error());
  auto address = pipeline::RunningAddress(config.data_dir);
  if (!address) return ReportError(address.error());
  auto response = server::Post(*address, path, params, body, config.server_token);
  if (!response) return ReportError(response.error());
  if (auto preview = response->headers.find(std::string(query::kPreviewHeader));
      preview != response->headers.end() && isatty(STDERR_FILENO)) {
    fmt::print(stderr, "walden: {}\n", preview->second);
  }
  if (response->status != 200) {
    return ReportError(Error{ErrorKind::kUsage, response->body});
  }
  fmt::print("{}", response->body);
  return 0;
}

}  // namespace

int MirrorRebuildCommand(const Config& config) {
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (!lock) return ReportError(lock.error());
  auto store = store::OpenStore(config.archive);
  if (!store) return ReportError(store.error());
  auto result = pipeline::RebuildMirror(**store, config.mirror.path, config.data_dir + "/segments");
  close(*lock);
  if (!result) return ReportError(result.error());
  fmt::print("rebuilt {} from {}: {} tables, {} changes, watermark {}\n", config.mirror.path,
             (*store)->url(), result->tables, result->changes, result->watermark.ToString());
  return 0;
}

int QueryCommand(const Config& config, const std::string& sql, const std::string& format,
                 const QueryFlags& flags) {
  auto parsed = query::ParseOutputFormat(format);
  if (!parsed) return ReportError(parsed.error());
  return OnMirror(
      config,
      [&]() -> Result<std::string> {
        auto store = store::OpenStore(config.archive);
        if (!store) return std::unexpected(store.error());
        archive::ArchiveState state;
        // The manifest is read only when the query reads history or time-travels (the
        // mirror alone works without an archive).
        const std::string lower = AsciiLower(sql);
        if (lower.find("history") != std::string::npos ||
            lower.find("walden_as_of") != std::string::npos) {
          auto loaded = archive::Manifest(**store).Load();
          if (!loaded) return std::unexpected(loaded.error());
          state = std::move(*loaded);
        }
        auto db = mirror::OpenReadOnly(config.mirror.path, pipeline::QueryableDirectories(config));
        if (!db) return std::unexpected(db.error());
        const std::string catalog = mirror::MirrorCatalog(config.mirror.path);
        auto status = pipeline::StoppedStatusTables(*db, catalog);
        if (!status) return std::unexpected(status.error());
        auto answer = query::RunWithHistory(*db, **store, state, sql, *parsed,
                                            {.dry_run = flags.dry_run,
                                             .allow_full_scan = flags.allow_full_scan,
                                             .rates = pipeline::Rates(config),
                                             .cache_dir = pipeline::HistoryCache(config),
                                             .cache_limit = config.query.cache_size,
                                             .rebuild_as_of = pipeline::AsOfRebuilder(config)},
                                            [&] {
                                              query::QueryOptions bounds =
                                                  pipeline::QueryBounds(config);
                                              bounds.catalog = catalog;
                                              bounds.status = std::move(*status);
                                              return bounds;
                                            }());
        if (!answer) return std::unexpected(answer.error());
        // For people at a terminal; scripts get the rows alone (and --dry-run for the cost).
        if (!answer->preview.empty() && !flags.dry_run && isatty(STDERR_FILENO)) {
          fmt::print(stderr, "walden: {}\n", answer->preview);
        }
        return std::move(answer->output);
      },
      "/api/query",
      {{"format", format},
       {"dry_run", flags.dry_run ? "true" : "false"},
       {"allow_full_scan", flags.allow_full_scan ? "true" : "false"}},
      sql);
}

int MirrorExportCommand(const Config& config, const std::string& path, const std::string& format,
                        bool replace) {
  auto parsed = mirror::ParseExportFormat(format);
  if (!parsed) return ReportError(parsed.error());
  const std::string absolute = std::filesystem::absolute(path).lexically_normal();
  return OnMirror(
      config,
      [&]() -> Result<std::string> {
        // Holding the data directory's lock, nothing else writes the file; the operator's
        // own command may write wherever the operator may.
        auto db = duck::Database::Open(config.mirror.path);
        if (!db) return std::unexpected(db.error());
        if (auto done = mirror::Export(*db, absolute, *parsed, replace); !done) {
          return std::unexpected(done.error());
        }
        return "exported the mirror to " + absolute + "\n";
      },
      // A running walden writes under mirror.export_dir: a relative path means a place there.
      "/api/mirror/export",
      {{"path", std::filesystem::path(path).is_absolute() ? absolute : path},
       {"format", format},
       {"replace", replace ? "true" : "false"}},
      "");
}

}  // namespace walden::cli
