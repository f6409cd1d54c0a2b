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
#include "console/console.h"
#include "mirror/export.h"
#include "pg/capture.h"
#include "pg/catalog.h"
#include "pipeline/archive_sink.h"
#include "pipeline/canary.h"
#include "pipeline/canary_writer.h"
#include "pipeline/change_typer.h"
#include "pipeline/feed_api.h"
#include "pipeline/feed_replay.h"
#include "pipeline/feed_sink.h"
#include "pipeline/initial_load.h"
#include "pipeline/mirror_sink.h"
#include "pipeline/positions.h"
#include "pipeline/rebuild.h"
#include "pipeline/snapshot_control.h"
#include "pipeline/status.h"
#include "query/query.h"
#include "server/http_server.h"
#include "snapshot/online.h"
#include "snapshot/source.h"
#include "store/object_store.h"
#include "topics/maintenance.h"
#include "topics/schema.h"

namespace walden::pipeline {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::ptrdiff_t kMaxQueries = 4;

}  // namespace

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
  // The HTTP threads use the snapshot control and the sinks: they stop first.
  // Feed clients end first: their threads would otherwise keep the server waiting.
  ~Pipeline() {
    verify_schedule_.reset();
    feed_hub_.Shutdown();
    server_.reset();
  }

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
  // Flushes every sink and confirms everything they hold (when PostgreSQL can be told).
  Status Drain();
  // A stop requested before streaming started: the sinks keep what they hold.
  Status StopBeforeStreaming();

 private:
  // With the topics API installed: checks its version, starts its maintenance and returns
  // the publication its tables are captured through (none when it is missing).
  Result<std::vector<std::string>> StartTopics(pg::Connection& conn);
  // Every sink must hold a transaction before the slot may forget it.
  Lsn Durable() const { return MinDurable(sinks_); }
  Status Housekeeping();
  // The console and the live feeds, served beside the HTTP API.
  std::vector<server::Route> WebRoutes();
  // Hands committed transactions to every sink for up to `timeout`.
  Status Receive(std::chrono::milliseconds timeout);
  void Publish();
  void Heartbeat();
  // A side task lost PostgreSQL (or the store): counted in errors_ as "<task>/<kind>"
  // (`task` is a metrics label: "archive_flush"), logged at most every 10 s per task, tried
  // again on a later round. Only the loop decides; nothing exits for it.
  void Retrying(const std::string& task, const Error& error);
  // `status` unless it failed for a lost connection, which is Retrying instead.
  Status UnlessDisconnected(const std::string& task, Status status) {
    if (status || status.error().kind != ErrorKind::kConnection) return status;
    Retrying(task, status.error());
    return {};
  }

  const Config& config_;
  const std::atomic<bool>& stop_;
  StatusBoard board_;
  int64_t started_at_ = UnixNowMicros();
  int64_t slot_lag_bytes_ = -1;
  Clock::time_point last_publish_{};
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<ArchiveSink> archive_;
  std::unique_ptr<MirrorSink> mirror_;
  feed::FeedHub feed_hub_{{.max_clients = config_.server_max_feed_clients}};
  FeedSink feed_{feed_hub_};
  std::atomic<Lsn> feed_start_{};  // where the slot replays from: archived up to there
  std::vector<Sink*> sinks_;  // where every committed transaction goes, in this order
  ChangeTyper typer_;
  // The manifest state history queries plan on, published on each archive commit
  // (declared before the server, whose threads read it).
  query::ArchiveSnapshot history_;
  uint64_t history_sequence_ = 0;
  VerifyStats verify_stats_;  // declared before the server, whose handlers count into it
  std::unique_ptr<server::HttpServer> server_;
  std::unique_ptr<VerifySchedule> verify_schedule_;  // verify.interval
  std::unique_ptr<pg::Capture> capture_;
  CanaryWriter canary_writer_{config_.source.url, &stop_};
  std::unique_ptr<SnapshotControl> snapshots_;
  std::unique_ptr<topics::MaintenanceThread> topics_upkeep_;
  std::atomic<SnapshotControl*> snapshots_ready_{nullptr};  // for the HTTP threads
  Canary canary_{config_.canary.interval, config_.canary.stale_after,
                 config_.archive.flush_interval};
  CanaryState canary_state_;
  std::map<std::string, uint64_t> errors_;
  Lsn last_confirmed_;
  Clock::time_point last_lag_check_ = Clock::now();
  std::map<std::string, Clock::time_point> last_retry_warning_;
};

void Pipeline::Retrying(const std::string& task, const Error& error) {
  ++errors_[task + "/" + KindName(error.kind)];
  Clock::time_point& last = last_retry_warning_[task];
  std::string what = task;
  std::ranges::replace(what, '_', ' ');
  if (Clock::now() - last < std::chrono::seconds(10)) {
    spdlog::debug("{}: {}; will retry", what, error.message);
    return;
  }
  last = Clock::now();
  spdlog::warn("{}: {}; will retry", what, error.message);
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
    spdlog::warn(
        "archive: moved {} files no commit names to {} (a flush interrupted before its "
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
  sinks_ = {archive_.get(), mirror_.get(), &feed_};
  history_.Publish(archive_->state());
  history_sequence_ = archive_->state().last_sequence;
  auto on_snapshot = [this](const std::string& body) -> std::string {
    SnapshotControl* snapshots = snapshots_ready_.load();
    if (!snapshots) return "walden is starting; try again shortly\n";
    return snapshots->Queue(body);
  };
  auto on_repair = [this](KeyRepairs keys) -> std::string {
    SnapshotControl* snapshots = snapshots_ready_.load();
    if (!snapshots) return "walden is starting; try again shortly";
    return snapshots->QueueKeys(std::move(keys));
  };
  std::vector<server::Route> routes = WebRoutes();
  routes.push_back(VerifyRoute(config_, mirror_->mirror().database(), board_, verify_stats_, stop_,
                               on_snapshot, on_repair));
  auto server = StartHttpApi(config_, mirror_->mirror().database(), board_, *mirror_, *archive_,
                             *store_, history_, on_snapshot, std::move(routes));
  if (!server) return std::unexpected(server.error());
  server_ = std::move(*server);
  if (config_.verify.interval.count() > 0) {
    verify_schedule_ = std::make_unique<VerifySchedule>(config_, mirror_->mirror().database(),
                                                        board_, verify_stats_, stop_);
  }
  return {};
}

std::vector<server::Route> Pipeline::WebRoutes() {
  std::vector<server::Route> routes = console::ConsoleRoutes();
  auto captured = [this](const QualifiedName& name) {
    // Until the first scan of the publication, any name.
    const SnapshotControl* snapshots = snapshots_ready_.load();
    const auto published = snapshots ? snapshots->Published(name) : std::nullopt;
    if (!published || *published) return true;
    return std::ranges::any_of(board_.Latest().tables,
                               [&](const auto& t) { return t.def.name == name; });
  };
  auto replay = [this](const QualifiedName& table, feed::EventId after, feed::EventId until) {
    const auto state = history_.Current();
    return ReplayFromArchive(mirror_->mirror().database(), *store_, *state, config_, table, after,
                             until, feed_start_.load());
  };
  std::ranges::move(FeedRoutes(feed_hub_, board_, captured, replay), std::back_inserter(routes));
  return routes;
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
  bool everything = false;  // new sinks on an existing slot: read every table
  if (config_.snapshot.mode != SnapshotMode::kNever && fresh && !fs::exists(job_path)) {
    if (!*exists && config_.snapshot.mode == SnapshotMode::kInitial) {
      if (auto loaded = InitialLoad(config_, *archive_, *mirror_); !loaded) return loaded;
    } else {
      everything = true;
    }
  }
  auto online = snapshot::OnlineSnapshot::Open({.conninfo = config_.source.url,
                                                .job_path = job_path,
                                                .chunk_rows = config_.snapshot.chunk_rows},
                                               Durable());
  if (!online) return std::unexpected(online.error());
  snapshots_ = std::make_unique<SnapshotControl>(config_, std::move(*online), everything, &stop_);
  snapshots_ready_ = snapshots_.get();
  return {};
}

Result<std::vector<std::string>> Pipeline::StartTopics(pg::Connection& conn) {
  auto installed = topics::InstalledVersion(conn);
  if (!installed && installed.error().kind == ErrorKind::kPermission) {
    // Installed by an administrator, unreadable for walden's role: capture goes on.
    spdlog::warn(
        "run: topics maintenance is off: {} ({}); grant it USAGE on schema walden and SELECT on "
        "its tables, and make it the owner of the topic tables for retention",
        installed.error().message, conn.user());
    return std::vector<std::string>();
  }
  if (!installed) return std::unexpected(installed.error());
  if (*installed == 0) return std::vector<std::string>();
  // An older API would lack what this walden's maintenance relies on.
  if (auto current = topics::CheckVersion(*installed, topics::LatestVersion(), conn.database());
      !current) {
    return std::unexpected(current.error());
  }
  topics_upkeep_ = std::make_unique<topics::MaintenanceThread>(
      config_.source.url,
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.topics.maintenance_interval));
  auto published = topics::PublicationExists(conn);
  if (!published) return std::unexpected(published.error());
  if (*published) return std::vector<std::string>{std::string(topics::kPublication)};
  spdlog::warn(
      "run: topics and queues are not captured: publication {} is missing (creating it needs "
      "a superuser); run `walden topics init` as a superuser",
      topics::kPublication);
  return std::vector<std::string>();
}

Status Pipeline::StartCapture() {
  auto conn = pg::Connection::Open(config_.source.url);
  if (!conn) return std::unexpected(conn.error());
  auto topic_publications = StartTopics(*conn);
  if (!topic_publications) return std::unexpected(topic_publications.error());
  auto tables = pg::ResolveTables(*conn, config_.source.tables);
  if (!tables) return std::unexpected(tables.error());
  const SourceConfig& source = config_.source;
  auto capture = pg::Capture::Start(
      {.conninfo = source.url,
       .slot = source.slot,
       .publication = source.publication,
       .tables = *tables,
       .extra_publications = *topic_publications,
       .failover = source.failover,
       .binary = source.binary,
       .memory_limit = static_cast<size_t>(source.memory_limit),
       .spill_dir = config_.data_dir + "/spill",
       .status_interval =
           std::chrono::duration_cast<std::chrono::milliseconds>(source.status_interval),
       .receive_timeout =
           std::chrono::duration_cast<std::chrono::milliseconds>(source.receive_timeout),
       .stop = &stop_,
       .before_confirm = [this](Lsn lsn) { return RecordConfirmed(config_.data_dir, lsn); }});
  if (!capture) return std::unexpected(capture.error());
  capture_ = std::move(*capture);
  if (auto ok = CheckPositions(); !ok) return ok;
  last_confirmed_ = Durable();
  feed_start_ = capture_->slot().confirmed_flush;
  feed_hub_.Start(feed_start_.load().value);
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
  const auto deliver = [&](pg::CommittedTransaction&& txn) -> Status {
    if (auto ok = snapshots_->Observe(txn); !ok) return ok;
    return Deliver(typer_, txn, sinks_);
  };
  // A poll reads until its timeout while changes keep coming: in short slices, the loop
  // turns to a sink as soon as it is due (a merge waits for its interval, not for the poll).
  constexpr auto kSlice = std::chrono::milliseconds(10);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto ok = capture_->Poll(kSlice, deliver); !ok) return ok;
    if (Clock::now() >= deadline) return {};
    for (const Sink* sink : sinks_) {
      if (sink->Due()) return {};
    }
  }
}

Status Pipeline::Step() {
  if (auto polled = Receive(std::chrono::milliseconds(100)); !polled) return polled;
  // Each sink does what is due without waiting for the others (the archive's flushes run
  // on its own thread). A store that is away only holds back what it must make durable.
  for (Sink* sink : sinks_) {
    if (auto done = UnlessDisconnected(std::string(sink->name()) + "_flush", sink->FlushIfDue());
        !done) {
      return done;
    }
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
  if (archive_->state().last_sequence != history_sequence_) {
    history_sequence_ = archive_->state().last_sequence;
    history_.Publish(archive_->state());
  }
  if (topics_upkeep_) topics_upkeep_->SetArchived(archive_->durable_end());
  if (auto ok = UnlessDisconnected("snapshot", snapshots_->Step(mirror_->mirror(), Durable()));
      !ok) {
    return ok;
  }
  if (Clock::now() - last_publish_ > std::chrono::milliseconds(250)) Publish();
  return Housekeeping();
}

void Pipeline::Heartbeat() {
  if (config_.canary.interval.count() <= 0) return;
  const int64_t now = UnixNowMicros();
  if (auto beat = canary_.Due(now)) {
    if (auto sent = canary_writer_.Write(*beat); !sent) Retrying("canary", sent.error());
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
  std::map<std::string, int64_t> topic_bytes;
  for (const auto& [key, file] : archive_->state().live) {
    archive_bytes += file.bytes;
    if (file.table.schema == topics::kTopicsSchema) topic_bytes[file.table.name] += file.bytes;
  }
  std::vector<topics::TopicStats> topic_stats;
  if (topics_upkeep_) topic_stats = topics_upkeep_->last().topics;
  for (topics::TopicStats& topic : topic_stats) topic.archived_bytes = topic_bytes[topic.topic];
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
                  .archive_durable = archive_->durable_end(),
                  .archive_commits = archive_->state().last_sequence,
                  .archive_bytes = archive_bytes,
                  .archive_last_flush = archive_->last_flush(),
                  .mirror_watermark = mirror_->mirror().watermark().commit_lsn,
                  .mirror_last_merge = mirror_->last_merge(),
                  .tables = mirror_->mirror().Tables(),
                  .canary = canary_state_,
                  .errors = errors_,
                  .snapshot = snapshots_->progress(),
                  .topics = std::move(topic_stats),
                  .feed_clients = feed_hub_.clients(),
                  .feed_dropped = feed_hub_.dropped_total(),
                  .feed_buffered = feed_hub_.ring_bytes(),
                  .verify = verify_stats_.Latest()});
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
  // Renewed on the archive's own thread; another writer holding it ends the run.
  return UnlessDisconnected("archive_lease", archive_->LeaseStatus());
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
  // An archive that cannot be reached gets a second: a stop must end within two.
  if (auto flushed = archive_->FlushBy(Clock::now() + std::chrono::milliseconds(1000)); !flushed) {
    if (flushed.error().kind != ErrorKind::kConnection) return flushed;
    // Not lost: nothing past the archive's watermark is confirmed, the slot sends it again.
    spdlog::warn(
        "run: the archive could not be flushed before stopping ({}); changes after {} "
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
