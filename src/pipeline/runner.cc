#include "pipeline/runner.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "archive/maintenance.h"
#include "mirror/query.h"
#include "pg/capture.h"
#include "pg/catalog.h"
#include "pipeline/archive_sink.h"
#include "pipeline/mirror_sink.h"
#include "pipeline/rebuild.h"
#include "server/http_server.h"
#include "store/object_store.h"

namespace walden::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Serves the mirror's read API while the pipeline writes (mirror/query.h), and leaves its
// address in the data directory for `walden query`.
Result<std::unique_ptr<server::HttpServer>> StartServer(const Config& config,
                                                        duck::Database& database) {
  auto query = [&database](const server::Request& request) -> server::Response {
    auto format = mirror::ParseOutputFormat(
        request.params.contains("format") ? request.params.at("format") : "table");
    if (!format) return {.status = 400, .body = format.error().message};
    auto output = mirror::RunQuery(database, request.body, *format);
    if (!output) return {.status = 400, .body = output.error().message};
    return {.body = std::move(*output)};
  };
  auto publish = [&database](const server::Request& request) -> server::Response {
    auto format = mirror::ParseExportFormat(
        request.params.contains("format") ? request.params.at("format") : "duckdb");
    if (!format) return {.status = 400, .body = format.error().message};
    const std::string path = request.params.contains("path") ? request.params.at("path") : "";
    if (path.empty()) return {.status = 400, .body = "export needs a path"};
    if (auto done = mirror::Export(database, path, *format); !done) {
      return {.status = 400, .body = done.error().message};
    }
    return {.body = "exported the mirror to " + path + "\n"};
  };
  auto server = server::HttpServer::Start(
      config.server_listen,
      {{.method = "GET",
        .path = "/healthz",
        .handler = [](const server::Request&) { return server::Response{.body = "ok\n"}; }},
       {.method = "POST", .path = "/api/query", .handler = query},
       {.method = "POST", .path = "/api/mirror/export", .handler = publish}});
  if (!server) return server;
  const std::string file = ServerFile(config.data_dir);
  std::ofstream(file + ".tmp")
      << nlohmann::json{{"address", (*server)->address()}, {"pid", getpid()}}.dump() << "\n";
  fs::rename(file + ".tmp", file);
  spdlog::info("run: serving http://{}", (*server)->address());
  return server;
}

}  // namespace

std::string ServerFile(const std::string& data_dir) { return data_dir + "/server.json"; }

// One walden per data directory: an exclusive flock held for the life of the process.
Result<int> LockDataDir(const std::string& data_dir) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  const std::string path = data_dir + "/walden.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrorKind::kIo, "cannot open " + path + ": " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return Fail(ErrorKind::kUsage, "another walden is running with data_dir " + data_dir +
                                       "; stop it first, or give this one its own data_dir");
  }
  return fd;
}

Status Run(const Config& config, const std::atomic<bool>& stop) {
  auto lock = LockDataDir(config.data_dir);
  if (!lock) return std::unexpected(lock.error());
  auto store = store::OpenStore(config.archive);
  if (!store) return std::unexpected(store.error());
  const std::string owner = fmt::format("run-{}-{}", getpid(), time(nullptr));
  auto sink = ArchiveSink::Open(**store, {.spool_path = config.data_dir + "/spool.duckdb",
                                          .scratch_dir = config.data_dir + "/segments",
                                          .flush_interval = config.archive.flush_interval,
                                          .flush_size = config.archive.flush_size,
                                          .lease_owner = owner});
  if (!sink) return std::unexpected(sink.error());
  // Holding the lease, every file no commit names is a leftover of a killed flush.
  if (auto orphans = archive::CollectOrphans(**store, (*sink)->state(), std::chrono::seconds(0));
      orphans && !orphans->deleted.empty()) {
    spdlog::info("archive: removed {} files of an interrupted flush", orphans->deleted.size());
  }
  // A lost mirror comes back from the archive before streaming resumes at its watermark.
  if (!fs::exists(config.mirror.path) && (*sink)->state().last_sequence > 0) {
    spdlog::warn("run: mirror {} is missing; rebuilding it from the archive", config.mirror.path);
    auto rebuilt = RebuildMirror(**store, config.mirror.path, config.data_dir + "/segments");
    if (!rebuilt) return std::unexpected(rebuilt.error());
    spdlog::info("run: mirror rebuilt: {} tables, {} changes, up to {}", rebuilt->tables,
                 rebuilt->changes, rebuilt->watermark.ToString());
  }
  auto mirror = MirrorSink::Open(
      {.path = config.mirror.path, .apply_interval = config.mirror.apply_interval});
  if (!mirror) return std::unexpected(mirror.error());
  auto server = StartServer(config, (*mirror)->mirror().database());
  if (!server) return std::unexpected(server.error());
  auto conn = pg::Connection::Open(config.source.url);
  if (!conn) return std::unexpected(conn.error());
  auto tables = pg::ResolveTables(*conn, config.source.tables);
  if (!tables) return std::unexpected(tables.error());
  auto capture =
      pg::Capture::Start({.conninfo = config.source.url,
                          .slot = config.source.slot,
                          .publication = config.source.publication,
                          .tables = *tables,
                          .failover = config.source.failover,
                          .binary = config.source.binary,
                          .memory_limit = static_cast<size_t>(config.source.memory_limit),
                          .spill_dir = config.data_dir + "/spill",
                          .status_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
                              config.source.status_interval)});
  if (!capture) return std::unexpected(capture.error());
  spdlog::info(
      "run: streaming slot {} from {} into {} (archive watermark {}) and {} (mirror watermark {})",
      config.source.slot, (*capture)->slot().confirmed_flush.ToString(), (*store)->url(),
      (*sink)->state().watermark.commit_lsn.ToString(), config.mirror.path,
      (*mirror)->mirror().watermark().commit_lsn.ToString());
  // Both sinks must hold a transaction before the slot may forget it.
  auto durable = [&] { return std::min((*sink)->durable_end(), (*mirror)->durable_end()); };
  Lsn last_confirmed = durable();
  auto last_lag_check = Clock::now();
  auto last_lease = Clock::now();
  while (!stop) {
    auto polled = (*capture)->Poll(std::chrono::milliseconds(100),
                                   [&](pg::CommittedTransaction&& txn) -> Status {
                                     if (auto ok = (*sink)->Apply(txn); !ok) return ok;
                                     return (*mirror)->Apply(txn);
                                   });
    if (!polled) return polled;
    if (auto merged = (*mirror)->FlushIfDue(); !merged) return merged;
    if (auto flushed = (*sink)->FlushIfDue(); !flushed) {
      if (flushed.error().kind != ErrorKind::kConnection) return flushed;
      // The store is unreachable: keep the changes, confirm nothing new, try again later.
      spdlog::warn("archive flush failed, will retry: {}", flushed.error().message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    // Tell PostgreSQL as soon as something new is durable: it frees WAL sooner, and a
    // flush that blocks later (a store outage) cannot hold back what was already done.
    if (const Lsn now_durable = durable(); now_durable > last_confirmed) {
      last_confirmed = now_durable;
      (*capture)->Confirm(now_durable);
      if (auto sent = (*capture)->Flush(); !sent)
        spdlog::debug("status not sent: {}", sent.error().message);
    }
    if (Clock::now() - last_lag_check > config.source.status_interval) {
      last_lag_check = Clock::now();
      (void)(*capture)->CheckLag(config.source.lag_warn_bytes);
    }
    if (Clock::now() - last_lease > std::chrono::seconds(20)) {
      last_lease = Clock::now();
      if (auto renewed = (*sink)->RenewLease(); !renewed) {
        if (renewed.error().kind != ErrorKind::kConnection) return renewed;
        spdlog::warn("archive lease renewal failed, will retry: {}", renewed.error().message);
      }
    }
  }
  spdlog::info("run: stopping; flushing the mirror and the archive");
  if (auto merged = (*mirror)->Flush(); !merged) return merged;
  if (auto flushed = (*sink)->Flush(); !flushed) return flushed;
  (*capture)->Confirm(durable());
  if (auto sent = (*capture)->Flush(); !sent) return sent;
  spdlog::info("run: stopped at {}", durable().ToString());
  std::error_code ec;
  fs::remove(ServerFile(config.data_dir), ec);
  close(*lock);
  return {};
}

}  // namespace walden::pipeline
