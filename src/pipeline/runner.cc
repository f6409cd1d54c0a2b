#include "pipeline/runner.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <set>
#include <sstream>
#include <thread>

#include "archive/maintenance.h"
#include "common/strings.h"
#include "common/units.h"
#include "mirror/export.h"
#include "mirror/query.h"
#include "pg/capture.h"
#include "pg/catalog.h"
#include "pipeline/archive_sink.h"
#include "pipeline/canary.h"
#include "pipeline/initial_load.h"
#include "pipeline/mirror_sink.h"
#include "pipeline/positions.h"
#include "pipeline/rebuild.h"
#include "pipeline/status.h"
#include "server/http_server.h"
#include "snapshot/online.h"
#include "snapshot/source.h"
#include "store/object_store.h"

namespace walden::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::ptrdiff_t kMaxQueries = 4;

// Serves the mirror's read API while the pipeline writes (mirror/query.h), and leaves its
// address in the data directory for `walden query`.
Result<std::unique_ptr<server::HttpServer>> StartServer(
    const Config& config, duck::Database& database, const StatusBoard& board, MirrorSink& mirror,
    ArchiveSink& archive, std::function<std::string(const std::string&)> on_snapshot) {
  // Queries take at most half of the HTTP threads: health checks and status never wait.
  auto running = std::make_shared<std::counting_semaphore<kMaxQueries>>(kMaxQueries);
  // A query that hit a damaged block: the mirror cannot be trusted, so walden is not ready.
  auto damaged = std::make_shared<std::atomic<bool>>(false);
  auto query = [&database, &config, running, damaged](const server::Request& request) {
    auto format = mirror::ParseOutputFormat(
        request.params.contains("format") ? request.params.at("format") : "table");
    if (!format) return server::Response{.status = 400, .body = format.error().message};
    if (!running->try_acquire()) {
      return server::Response{
          .status = 503,
          .body = fmt::format("walden: {} queries are running; try again when one finished\n",
                              kMaxQueries)};
    }
    auto history = HistoryFor(request.body, config.archive, HistoryCache(config));
    auto output = history ? mirror::RunQuery(database, request.body, *format,
                                             {.history = std::move(*history)})
                          : Result<std::string>(std::unexpected(history.error()));
    running->release();
    if (!history) return server::Response{.status = 503, .body = history.error().message};
    if (!output) {
      const std::string& why = output.error().message;
      if (duck::IsDamage(why)) {
        damaged->store(true);
        spdlog::error("mirror: a query found damaged data ({}); stop walden, move {} away and "
                      "run `walden mirror rebuild`",
                      OneLine(why), config.mirror.path);
      }
      return server::Response{.status = 400, .body = why};
    }
    return server::Response{.body = std::move(*output)};
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
  auto server = server::HttpServer::Start(
      config.server_listen,
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
                    .body = "mirror damaged: a query read a corrupt block; stop walden and run "
                            "`walden mirror rebuild`\n"};
              }
              const RunStatus status = board.Latest();
              if (UnixNowMicros() - status.updated_at > 5000000) {
                return server::Response{.status = 503, .body = "not streaming\n"};
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
       {.method = "POST", .path = "/api/mirror/export", .handler = publish}},
      {.token = config.server_token, .public_name = config.server_public_name});
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

}  // namespace

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

// DuckDB's memory_limit setting for a size in bytes.
std::string DuckMemory(int64_t bytes) {
  return fmt::format("{}KiB", std::max<int64_t>(bytes >> 10, 1024));
}

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

namespace {

// Everything `walden run` holds, opened in declaration order and closed in reverse (the
// server stops before the mirror it reads closes).
class Pipeline {
 public:
  Pipeline(const Config& config, const std::atomic<bool>& stop) : config_(config), stop_(stop) {}

  Status OpenSinks();
  // The initial load when it is due; the online snapshot engine (resuming a job).
  Status PrepareSnapshot();
  // From here on no SQL, walden's or a query's, changes the mirror database's settings.
  Status LockSettings() { return mirror_->mirror().LockConfiguration(); }
  Status StartCapture();
  // The slot, the mirror and the archive still agree (positions.h).
  Status CheckPositions();
  Status RefuseLostCommits(const std::vector<std::string>& quarantined);
  // One round: receive for up to 100 ms, merge/flush what is due, confirm, housekeeping.
  Status Step();
  RunView View() { return {board_, *mirror_}; }
  // Flushes both sinks and confirms everything they hold (when PostgreSQL can be told).
  Status Drain();
  // A stop requested before streaming started: the sinks keep what they hold.
  Status StopBeforeStreaming();

 private:
  // Both sinks must hold a transaction before the slot may forget it.
  Lsn Durable() const { return std::min(archive_->durable_end(), mirror_->durable_end()); }
  Status Housekeeping();
  // Hands committed transactions to both sinks for up to `timeout`.
  Status Receive(std::chrono::milliseconds timeout);
  void Publish();
  void Heartbeat();
  // Requests from the HTTP endpoint, tables the mirror lost (rewritten by DDL) and tables
  // new in the capture set become snapshot work; then the next chunk if none is in flight.
  Status SnapshotStep();
  // Takes "schema.table" lines (or "*" for every published table) from POST /api/snapshot
  // to the run loop; returns "job <id>" once it is queued there, else why not.
  std::string QueueSnapshot(const std::string& body);
  // A side task lost PostgreSQL (or the store): counted, logged at most every 10 s per
  // task, tried again on a later round. Only the loop decides; nothing exits for it.
  void Retrying(const std::string& task, const Error& error);

  const Config& config_;
  const std::atomic<bool>& stop_;
  StatusBoard board_;
  int64_t started_at_ = UnixNowMicros();
  int64_t slot_lag_bytes_ = -1;
  Clock::time_point last_publish_{};
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<ArchiveSink> archive_;
  std::unique_ptr<MirrorSink> mirror_;
  std::unique_ptr<server::HttpServer> server_;
  std::unique_ptr<pg::Capture> capture_;
  std::unique_ptr<pg::Connection> canary_conn_;
  std::unique_ptr<snapshot::OnlineSnapshot> snapshot_;
  std::unique_ptr<pg::Connection> snapshot_catalog_;  // the once-a-second table scan's
  bool snapshot_everything_ = false;  // new sinks on an existing slot: read every table
  std::mutex requests_mutex_;
  struct Request {
    std::vector<TableSelector> selectors;  // empty: every published table
    std::promise<Result<std::string>> job;  // the job id that takes it, or why none does
  };
  std::vector<Request> requests_;
  std::set<QualifiedName> auto_requested_;
  Clock::time_point last_snapshot_scan_{};
  Canary canary_{config_.canary.interval, config_.canary.stale_after,
                 config_.archive.flush_interval};
  CanaryState canary_state_;
  std::map<std::string, uint64_t> errors_;
  Lsn last_confirmed_;
  Clock::time_point last_lag_check_ = Clock::now();
  Clock::time_point last_lease_ = Clock::now();
  std::map<std::string, Clock::time_point> last_retry_warning_;
};

void Pipeline::Retrying(const std::string& task, const Error& error) {
  ++errors_[task + "/" + KindName(error.kind)];
  Clock::time_point& last = last_retry_warning_[task];
  if (Clock::now() - last < std::chrono::seconds(10)) {
    spdlog::debug("{}: {}; will retry", task, error.message);
    return;
  }
  last = Clock::now();
  spdlog::warn("{}: {}; will retry", task, error.message);
}

Status Pipeline::OpenSinks() {
  auto store = store::OpenStore(config_.archive);
  if (!store) return std::unexpected(store.error());
  store_ = std::move(*store);
  const std::string owner = fmt::format("run-{}-{}", getpid(), time(nullptr));
  auto archive =
      ArchiveSink::Open(*store_, {.spool_path = config_.data_dir + "/spool.duckdb",
                                  .scratch_dir = config_.data_dir + "/segments",
                                  .memory_limit = DuckMemory(config_.archive.spool_memory_limit),
                                  .flush_interval = config_.archive.flush_interval,
                                  .flush_size = config_.archive.flush_size,
                                  .lease_owner = owner});
  if (!archive) return std::unexpected(archive.error());
  archive_ = std::move(*archive);
  // Holding the lease, every file no commit names is a leftover of a killed flush.
  if (auto orphans = archive::CollectOrphans(*store_, archive_->state(), std::chrono::seconds(0));
      orphans && !orphans->quarantined.empty()) {
    spdlog::warn("archive: moved {} files no commit names to {} (a flush interrupted before its "
                 "commit leaves such files)",
                 orphans->quarantined.size(), archive::kQuarantinePrefix);
    if (auto ok = RefuseLostCommits(orphans->quarantined); !ok) return ok;
  }
  // A lost mirror comes back from the archive before streaming resumes at its watermark.
  if (!fs::exists(config_.mirror.path) && archive_->state().last_sequence > 0) {
    spdlog::warn("run: mirror {} is missing; rebuilding it from the archive", config_.mirror.path);
    auto rebuilt = RebuildMirror(*store_, config_.mirror.path, config_.data_dir + "/segments");
    if (!rebuilt) return std::unexpected(rebuilt.error());
    spdlog::info("run: mirror rebuilt: {} tables, {} changes, up to {}", rebuilt->tables,
                 rebuilt->changes, rebuilt->watermark.ToString());
  }
  auto mirror = MirrorSink::Open({.path = config_.mirror.path,
                                  .apply_interval = config_.mirror.apply_interval,
                                  .memory_limit = DuckMemory(config_.mirror.memory_limit),
                                  .allowed_directories = QueryableDirectories(config_)});
  if (!mirror) return std::unexpected(mirror.error());
  mirror_ = std::move(*mirror);
  auto server = StartServer(config_, mirror_->mirror().database(), board_, *mirror_, *archive_,
                            [this](const std::string& body) { return QueueSnapshot(body); });
  if (!server) return std::unexpected(server.error());
  server_ = std::move(*server);
  return {};
}

Status Pipeline::PrepareSnapshot() {
  const std::string job_path = SnapshotJobPath(config_.data_dir);
  std::error_code ec;
  fs::remove_all(SnapshotChunksDir(config_.data_dir), ec);  // a killed load's
  const bool fresh = mirror_->mirror().empty() && archive_->state().last_sequence == 0;
  auto exists = SlotExists(config_);
  if (!exists) return std::unexpected(exists.error());
  if (!fresh && !*exists) {
    // Streaming from a new slot would silently skip everything since the old one was lost.
    return Fail(ErrorKind::kNotFound,
                fmt::format("replication slot {} does not exist, but the sinks hold changes up "
                            "to {}: the slot was dropped or lost, and the changes since are "
                            "gone from the WAL; run `walden resync` (a new slot and an online "
                            "snapshot of every table)",
                            config_.source.slot, Durable().ToString()));
  }
  if (config_.snapshot.mode != SnapshotMode::kNever && fresh && !fs::exists(job_path)) {
    if (!*exists && config_.snapshot.mode == SnapshotMode::kInitial) {
      if (auto loaded = InitialLoad(config_, *archive_, *mirror_); !loaded) return loaded;
    } else {
      snapshot_everything_ = true;
    }
  }
  auto online = snapshot::OnlineSnapshot::Open({.conninfo = config_.source.url,
                                                .job_path = job_path,
                                                .chunk_rows = config_.snapshot.chunk_rows},
                                               Durable());
  if (!online) return std::unexpected(online.error());
  snapshot_ = std::move(*online);
  return {};
}

std::string Pipeline::QueueSnapshot(const std::string& body) {
  std::vector<TableSelector> selectors;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line == "*") continue;
    auto selector = ParseTableSelector(line);
    if (!selector) return selector.error().message + "\n";
    selectors.push_back(std::move(*selector));
  }
  if (config_.snapshot.mode == SnapshotMode::kNever) {
    return "snapshot.mode = never: this walden takes no snapshots; set snapshot.mode = online\n";
  }
  std::future<Result<std::string>> job;
  {
    std::lock_guard lock(requests_mutex_);
    requests_.push_back({.selectors = std::move(selectors)});
    job = requests_.back().job.get_future();
  }
  // The run loop takes requests between rounds (well under a second).
  if (job.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return "walden did not take the request within 30 s; see its log\n";
  }
  try {
    Result<std::string> taken = job.get();
    return (taken ? "job " + *taken : taken.error().message) + "\n";
  } catch (const std::future_error&) {
    return "walden stopped before taking the request\n";
  }
}

Status Pipeline::SnapshotStep() {
  if (config_.snapshot.mode == SnapshotMode::kNever) return {};
  std::vector<Request> requests;
  {
    std::lock_guard lock(requests_mutex_);
    requests.swap(requests_);
  }
  const bool scan = Clock::now() - last_snapshot_scan_ > std::chrono::seconds(1);
  if (!requests.empty() || scan || snapshot_everything_) {
    last_snapshot_scan_ = Clock::now();
    if (!snapshot_catalog_) {
      auto conn = pg::Connection::Open(config_.source.url, {.connect_timeout_seconds = 2});
      if (!conn) return std::unexpected(conn.error());
      snapshot_catalog_ = std::make_unique<pg::Connection>(std::move(*conn));
    }
    auto published = snapshot::PublishedTables(*snapshot_catalog_, config_.source.publication);
    if (!published) {
      snapshot_catalog_.reset();  // a fresh connection next time
      return std::unexpected(published.error());
    }
    for (Request& request : requests) {
      std::vector<QualifiedName> tables;
      for (const QualifiedName& name : *published) {
        if (request.selectors.empty() ||
            std::ranges::any_of(request.selectors,
                                [&](const TableSelector& s) { return s.Matches(name); })) {
          tables.push_back(name);
        }
      }
      // A typo must not report a snapshot that never happens.
      auto missing = std::ranges::find_if(request.selectors, [&](const TableSelector& s) {
        return std::ranges::none_of(tables, [&](const QualifiedName& n) { return s.Matches(n); });
      });
      if (missing != request.selectors.end()) {
        request.job.set_value(Fail(ErrorKind::kNotFound, missing->Display() +
                                                             " is not captured (publication " +
                                                             config_.source.publication + ")"));
        continue;
      }
      if (auto ok = snapshot_->Request(tables, "requested"); !ok) return ok;
      request.job.set_value(snapshot_->progress().job);
    }
    if (snapshot_everything_) {
      snapshot_everything_ = false;
      if (auto ok = snapshot_->Request(*published, "first start"); !ok) return ok;
    }
    // Tables the mirror stopped following, and captured tables it has never seen.
    std::set<QualifiedName> mirrored;
    std::vector<QualifiedName> due;
    for (const mirror::TableStatus& table : mirror_->mirror().Tables()) {
      mirrored.insert(table.def.name);
      if (table.state == mirror::kStateResync && auto_requested_.insert(table.def.name).second) {
        due.push_back(table.def.name);
      }
    }
    for (const QualifiedName& name : *published) {
      if (!mirrored.contains(name) && auto_requested_.insert(name).second) due.push_back(name);
    }
    std::erase_if(due, [&](const QualifiedName& name) { return snapshot_->Queued(name); });
    if (!due.empty()) {
      if (auto ok = snapshot_->Request(due, "rewritten or new"); !ok) return ok;
    }
  }
  if (auto ok = snapshot_->Durable(Durable()); !ok) return ok;
  return snapshot_->Tick();
}

Status Pipeline::StartCapture() {
  auto conn = pg::Connection::Open(config_.source.url);
  if (!conn) return std::unexpected(conn.error());
  auto tables = pg::ResolveTables(*conn, config_.source.tables);
  if (!tables) return std::unexpected(tables.error());
  const SourceConfig& source = config_.source;
  auto capture = pg::Capture::Start(
      {.conninfo = source.url,
       .slot = source.slot,
       .publication = source.publication,
       .tables = *tables,
       .failover = source.failover,
       .binary = source.binary,
       .memory_limit = static_cast<size_t>(source.memory_limit),
       .spill_dir = config_.data_dir + "/spill",
       .status_interval =
           std::chrono::duration_cast<std::chrono::milliseconds>(source.status_interval),
       .stop = &stop_,
       .before_confirm = [this](Lsn lsn) { return RecordConfirmed(config_.data_dir, lsn); }});
  if (!capture) return std::unexpected(capture.error());
  capture_ = std::move(*capture);
  if (auto ok = CheckPositions(); !ok) return ok;
  last_confirmed_ = Durable();
  spdlog::info(
      "run: streaming slot {} from {} into {} (archive watermark {}) and {} (mirror watermark {})",
      source.slot, capture_->slot().confirmed_flush.ToString(), store_->url(),
      archive_->state().watermark.commit_lsn.ToString(), config_.mirror.path,
      mirror_->mirror().watermark().commit_lsn.ToString());
  return {};
}

// An interrupted flush's files hold only changes walden never confirmed (it confirms after
// the commit), an interrupted compaction's only changes live files hold; a file with changes
// walden confirmed that no live file holds is what is left of a lost commit.
Status Pipeline::RefuseLostCommits(const std::vector<std::string>& quarantined) {
  const std::optional<Lsn> confirmed = ReadConfirmed(config_.data_dir);
  if (!confirmed) return {};
  for (const std::string& key : quarantined) {
    const std::optional<uint64_t> first = archive::SegmentFirstLsn(key);
    if (!first || Lsn{*first} >= *confirmed) continue;
    // A compaction killed before its commit leaves a file whose changes live files still hold.
    const bool compacted = std::ranges::any_of(archive_->state().live, [&](const auto& live) {
      return live.second.first_lsn <= *first && *first <= live.second.last_lsn;
    });
    if (compacted) continue;
    return Fail(ErrorKind::kIo,
                fmt::format("archive: {} holds changes from {} on, which walden confirmed, but no "
                            "commit names it: a commit file under _walden/commits/ was lost. "
                            "The file is kept at {}{}; restore the bucket's _walden/commits/ "
                            "from a backup and move the file back, or run `walden resync` to "
                            "start the history over",
                            key, Lsn{*first}.ToString(), archive::kQuarantinePrefix, key));
  }
  return {};
}

Status Pipeline::CheckPositions() {
  if (capture_->slot().created) return {};  // a new slot has nothing to disagree with
  StartPositions at{.slot_name = config_.source.slot,
                    .slot = capture_->slot().confirmed_flush,
                    .confirmed = ReadConfirmed(config_.data_dir),
                    .archive_end = archive_->durable_end(),
                    .mirror_end = mirror_->durable_end(),
                    .mirror_commit = mirror_->mirror().watermark().commit_lsn,
                    .mirror_path = config_.mirror.path,
                    .mirrored = {}};
  for (const mirror::TableStatus& table : mirror_->mirror().Tables()) {
    if (table.state == mirror::kStateStreaming || table.state == mirror::kStateAppendOnly) {
      at.mirrored.insert(table.def.name);
    }
  }
  if (!at.confirmed && archive_->state().last_sequence == 0 && mirror_->mirror().empty()) {
    return {};  // new sinks: the snapshot brings them to the slot
  }
  return CheckStartPositions(at, archive_->state());
}

Status Pipeline::Receive(std::chrono::milliseconds timeout) {
  return capture_->Poll(timeout, [&](pg::CommittedTransaction&& txn) -> Status {
    if (auto ok = snapshot_->Observe(txn); !ok) return ok;
    if (auto ok = archive_->Apply(txn); !ok) return ok;
    return mirror_->Apply(txn);
  });
}

Status Pipeline::Step() {
  if (auto polled = Receive(std::chrono::milliseconds(100)); !polled) return polled;
  if (auto merged = mirror_->FlushIfDue(); !merged) return merged;
  if (auto flushed = archive_->FlushIfDue(); !flushed) {
    if (flushed.error().kind != ErrorKind::kConnection) return flushed;
    // The store is unreachable: keep the changes, confirm nothing new, try again later.
    Retrying("archive flush", flushed.error());
  }
  // Tell PostgreSQL as soon as something new is durable: it frees WAL sooner, and a flush
  // that blocks later (a store outage) cannot hold back what was already done.
  if (const Lsn durable = Durable(); durable > last_confirmed_) {
    last_confirmed_ = durable;
    capture_->Confirm(durable);
    if (auto sent = capture_->Flush(); !sent) {
      spdlog::debug("status not sent: {}", sent.error().message);
    }
  }
  Heartbeat();
  if (auto ok = SnapshotStep(); !ok) {
    if (ok.error().kind != ErrorKind::kConnection) return ok;
    Retrying("snapshot", ok.error());
  }
  if (Clock::now() - last_publish_ > std::chrono::milliseconds(250)) Publish();
  return Housekeeping();
}

void Pipeline::Heartbeat() {
  if (config_.canary.interval.count() <= 0) return;
  const int64_t now = UnixNowMicros();
  if (auto beat = canary_.Due(now)) {
    if (!canary_conn_) {
      auto conn = pg::Connection::Open(config_.source.url, {.connect_timeout_seconds = 2});
      if (conn) canary_conn_ = std::make_unique<pg::Connection>(std::move(*conn));
    }
    const std::string sql =
        fmt::format("SELECT pg_logical_emit_message(true, {}, {})", QuoteLiteral(kCanaryPrefix),
                    QuoteLiteral(CanaryContent(*beat)));
    auto sent = canary_conn_ ? canary_conn_->Exec(sql)
                             : Result<pg::PgResult>(Fail(ErrorKind::kConnection, "not connected"));
    if (!sent) {
      // Reconnect at the next heartbeat; staleness tells the rest.
      if (canary_conn_) spdlog::warn("canary: cannot write a heartbeat: {}", sent.error().message);
      ++errors_[std::string("canary/") + KindName(sent.error().kind)];
      canary_conn_.reset();
    }
  }
  for (const CanaryBeat& beat : mirror_->canaries().TakeReceived()) canary_.Received(beat);
  for (const CanaryBeat& beat : mirror_->canaries().TakeVisible()) canary_.MirrorVisible(beat, now);
  for (const CanaryBeat& beat : archive_->canaries().TakeReceived()) canary_.Received(beat);
  for (const CanaryBeat& beat : archive_->canaries().TakeVisible()) canary_.ArchiveVisible(beat);
  canary_state_ = canary_.Check(now);
}

void Pipeline::Publish() {
  last_publish_ = Clock::now();
  const pg::CaptureStats& stats = capture_->stats();
  int64_t archive_bytes = 0;
  for (const auto& [key, file] : archive_->state().live) archive_bytes += file.bytes;
  board_.Publish({.slot = config_.source.slot,
                  .started_at = started_at_,
                  .updated_at = UnixNowMicros(),
                  .received = stats.received,
                  .confirmed = stats.confirmed,
                  .slot_lag_bytes = slot_lag_bytes_,
                  .transactions = stats.transactions,
                  .changes = stats.changes,
                  .reconnects = stats.reconnects,
                  .archive_watermark = archive_->state().watermark.commit_lsn,
                  .archive_commits = archive_->state().last_sequence,
                  .archive_bytes = archive_bytes,
                  .archive_last_flush = archive_->last_flush(),
                  .mirror_watermark = mirror_->mirror().watermark().commit_lsn,
                  .mirror_last_merge = mirror_->last_merge(),
                  .tables = mirror_->mirror().Tables(),
                  .canary = canary_state_,
                  .errors = errors_,
                  .snapshot = snapshot_->progress()});
}

Status Pipeline::Housekeeping() {
  if (Clock::now() - last_lag_check_ > config_.source.status_interval) {
    last_lag_check_ = Clock::now();
    if (auto lag = capture_->CheckLag(config_.source.lag_warn_bytes)) slot_lag_bytes_ = *lag;
  }
  // Heartbeats are written but none arrives: if the stream is silent too, it is dead.
  if (canary_state_.enabled && !canary_state_.fresh && canary_state_.stuck == "capture") {
    const auto quiet =
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.canary.stale_after);
    if (auto ok = capture_->ReconnectIfStalled(quiet); !ok) return ok;
  }
  if (Clock::now() - last_lease_ > std::chrono::seconds(20)) {
    last_lease_ = Clock::now();
    if (auto renewed = archive_->RenewLease(); !renewed) {
      if (renewed.error().kind != ErrorKind::kConnection) return renewed;
      spdlog::warn("archive lease renewal failed, will retry: {}", renewed.error().message);
      ++errors_[std::string("archive_lease/") + KindName(renewed.error().kind)];
    }
  }
  return {};
}

Status Pipeline::Drain() {
  // Everything committed before the stop request goes into both sinks: read on until the
  // stream passes the WAL position of that moment (bounded; the rest stays in the slot).
  // With PostgreSQL gone there is nothing more to read: the sinks keep what they hold.
  if (auto target = capture_->DrainTarget()) {
    // Bounded so that a stop takes at most ~2 s (a backlog stays in the slot).
    const auto deadline = Clock::now() + std::chrono::seconds(1);
    while (!capture_->CaughtUpTo(*target) && Clock::now() < deadline) {
      (void)capture_->RequestProgress();
      if (auto polled = Receive(std::chrono::milliseconds(50)); !polled) {
        if (!capture_->stop_requested()) return polled;
        break;
      }
      if (auto merged = mirror_->FlushIfDue(); !merged) return merged;
    }
    if (!capture_->CaughtUpTo(*target)) {
      spdlog::warn("run: stopping before reaching {}; later changes stay in the slot",
                   target->ToString());
    }
  } else {
    spdlog::warn("run: stopping without reading on: {}", target.error().message);
  }
  spdlog::info("run: stopping; flushing the mirror and the archive");
  if (auto merged = mirror_->Flush(); !merged) return merged;
  if (auto flushed = archive_->Flush(Clock::now() + std::chrono::milliseconds(1500)); !flushed) {
    if (flushed.error().kind != ErrorKind::kConnection) return flushed;
    // Not lost: nothing past the archive's watermark is confirmed, the slot sends it again.
    spdlog::warn("run: the archive could not be flushed before stopping ({}); changes after {} "
                 "stay in the slot and the next run archives them",
                 flushed.error().message, archive_->state().watermark.commit_lsn.ToString());
  }
  capture_->Confirm(Durable());
  if (auto sent = capture_->Flush(); !sent) {
    // Not an error: the slot keeps these changes and the next run skips what the sinks hold.
    spdlog::warn(
        "run: could not confirm {} to PostgreSQL ({}); the next run resumes from the "
        "sinks' watermarks",
        Durable().ToString(), sent.error().message);
  }
  spdlog::info("run: stopped at {}", Durable().ToString());
  return {};
}

Status Pipeline::StopBeforeStreaming() {
  spdlog::info("run: stopped before streaming began");
  return FlushBoth(*archive_, *mirror_);
}

}  // namespace

Status Run(const Config& config, const std::atomic<bool>& stop, const OnRound& on_round,
           int lock_fd) {
  auto lock = lock_fd >= 0 ? Result<int>(lock_fd) : LockDataDir(config.data_dir);
  if (!lock) return std::unexpected(lock.error());
  Status status = [&]() -> Status {
    Pipeline pipeline(config, stop);
    if (auto ok = pipeline.OpenSinks(); !ok) return ok;
    if (auto ok = pipeline.PrepareSnapshot(); !ok) return ok;
    if (auto ok = pipeline.LockSettings(); !ok) return ok;
    if (auto ok = pipeline.StartCapture(); !ok) {
      return stop ? pipeline.StopBeforeStreaming() : ok;
    }
    while (!stop) {
      // A step that failed because a stop interrupted its wait is the stop, not a failure.
      if (auto ok = pipeline.Step(); !ok && !stop) return ok;
      if (on_round) on_round(pipeline.View());
    }
    return pipeline.Drain();
  }();
  std::error_code ec;
  fs::remove(ServerFile(config.data_dir), ec);
  close(*lock);
  return status;
}

}  // namespace walden::pipeline
