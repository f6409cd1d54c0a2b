#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "cli/commands.h"
#include "mirror/export.h"
#include "mirror/query.h"
#include "pipeline/rebuild.h"
#include "pipeline/runner.h"
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

int QueryCommand(const Config& config, const std::string& sql, const std::string& format) {
  auto parsed = mirror::ParseOutputFormat(format);
  if (!parsed) return ReportError(parsed.error());
  return OnMirror(
      config,
      [&]() -> Result<std::string> {
        auto history = pipeline::HistoryFor(sql, config.archive, pipeline::HistoryCache(config));
        if (!history) return std::unexpected(history.error());
        auto db = mirror::OpenReadOnly(config.mirror.path, pipeline::QueryableDirectories(config));
        if (!db) return std::unexpected(db.error());
        return mirror::RunQuery(
            *db, sql, *parsed,
            {.history = std::move(*history), .catalog = mirror::MirrorCatalog(config.mirror.path)});
      },
      "/api/query", {{"format", format}}, sql);
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
