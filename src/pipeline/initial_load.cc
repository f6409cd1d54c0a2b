#include "pipeline/initial_load.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "common/strings.h"
#include "common/units.h"
#include "pg/catalog.h"
#include "pg/replication.h"
#include "pg/types.h"
#include "pipeline/change_typer.h"
#include "snapshot/bulk.h"
#include "snapshot/job.h"
#include "snapshot/online.h"
#include "snapshot/parallel_read.h"
#include "topics/schema.h"

namespace walden::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kPgEpochUnixMicros = 946684800000000;

// What the load plans: the job, each table's description and the relation its rows use.
struct Plan {
  snapshot::Job job;
  std::vector<snapshot::SourceTable> sources;
  std::vector<std::shared_ptr<const pg::RelationInfo>> relations;
};

Result<Plan> MakePlan(const Config& config, pg::Connection& conn, const pg::SlotState& slot) {
  auto publications = topics::CapturedPublications(conn, config.source.publication);
  if (!publications) return std::unexpected(publications.error());
  auto tables = snapshot::PublishedTables(conn, *publications);
  if (!tables) return std::unexpected(tables.error());
  pg::RelationCache relations([&conn](uint32_t oid) { return pg::LookupType(conn, oid); },
                              [&conn](uint32_t id) { return pg::LookupAttributes(conn, id); });
  Plan plan{.job = {.id = snapshot::NewJobId(),
                    .reason = "initial load",
                    .consistent_lsn = slot.consistent_point.value}};
  for (const QualifiedName& name : *tables) {
    auto source = snapshot::DescribeTable(conn, name);
    if (!source) return std::unexpected(source.error());
    auto chunks = snapshot::PlanChunks(conn, *source, config.snapshot.chunk_rows);
    if (!chunks) return std::unexpected(chunks.error());
    spdlog::info("snapshot: {}: {} chunks by {}", name.Display(), chunks->size(),
                 source->order_key.empty() ? "ctid" : "key");
    plan.job.tables.push_back({.name = name,
                               .by_ctid = source->order_key.empty(),
                               .chunks = std::move(*chunks),
                               .planned = true,
                               .estimated_rows = static_cast<int64_t>(source->estimated_rows)});
    auto relation = relations.Update(source->relation);
    if (!relation) return std::unexpected(relation.error());
    plan.relations.push_back(relation->relation);
    plan.sources.push_back(std::move(*source));
  }
  return plan;
}

}  // namespace

std::string SnapshotJobPath(const std::string& data_dir) { return data_dir + "/snapshot.json"; }

std::string SnapshotChunksDir(const std::string& data_dir) { return data_dir + "/snapshot-chunks"; }

Result<bool> SlotExists(const Config& config) {
  auto conn = pg::Connection::Open(config.source.url);
  if (!conn) return std::unexpected(conn.error());
  const std::optional<std::string> params[] = {config.source.slot};
  auto found = conn->ExecParams(
      "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", params);
  if (!found) return std::unexpected(found.error());
  return found->rows() > 0;
}

Status FlushBoth(ArchiveSink& archive, MirrorSink& mirror) {
  if (auto merged = mirror.Flush(); !merged) return merged;
  return archive.Flush();
}

namespace {

// A fast-path chunk as its reader left it: the archive's segment file, already written on
// the reader's thread (Parquet encoding is most of the load's work, so it runs on as many
// threads as there are readers), or why DuckDB could not read the chunk exactly.
struct Prepared {
  std::optional<archive::SegmentFile> segment;
  std::string failure;      // not empty: the chunk is read again as text
  int64_t commit_time = 0;  // µs since 1970 of the chunk's made-up transaction
};

// The load's chunks in task order: chunk i goes out as a made-up transaction with commit
// LSN `base + i`, in that order, so the sinks' watermarks make every chunk exactly-once.
struct Tasks {
  std::vector<snapshot::ReadTask> reads;
  std::vector<std::pair<size_t, size_t>> positions;  // task → (table, chunk)
  std::vector<Prepared> prepared;                    // task → its reader's work
  uint64_t base = 0;
};

// Chunks of tables DuckDB can read directly go through CSV files.
Tasks MakeTasks(const Plan& plan, const std::string& csv_dir, uint64_t consistent_lsn) {
  Tasks tasks;
  for (size_t t = 0; t < plan.job.tables.size(); ++t) {
    const bool bulk = snapshot::BulkEligible(plan.relations[t]->types);
    for (size_t c = 0; c < plan.job.tables[t].chunks.size(); ++c) {
      const size_t id = tasks.reads.size();
      tasks.reads.push_back({.table = &plan.sources[t],
                             .chunk = &plan.job.tables[t].chunks[c],
                             .id = id,
                             .csv_path = bulk ? fmt::format("{}/{}.csv", csv_dir, id) : ""});
      tasks.positions.emplace_back(t, c);
    }
  }
  tasks.prepared.resize(tasks.reads.size());
  // Below the consistent point: a streamed commit may sit right on it.
  tasks.base = consistent_lsn - tasks.reads.size() - 1;
  return tasks;
}

// Delivers the chunks of one load to both sinks, in task order.
class Loader {
 public:
  Loader(Plan& plan, Tasks& tasks, pg::Connection& catalog, ArchiveSink& archive,
         MirrorSink& mirror, std::string job_path)
      : plan_(plan),
        tasks_(tasks),
        catalog_(catalog),
        archive_(archive),
        mirror_(mirror),
        job_path_(std::move(job_path)) {}

  int64_t rows() const { return rows_; }
  uint64_t delivered() const { return delivered_; }

  // On reader `worker`'s thread: the archive's segment of a fast-path chunk.
  Status Prepare(duck::Connection& writer, const snapshot::ReadTask& task,
                 snapshot::ReadChunkResult& chunk) {
    if (chunk.csv_path.empty()) return {};
    Prepared& prepared = tasks_.prepared[task.id];
    const auto& relation = plan_.relations[tasks_.positions[task.id].first];
    prepared.commit_time = UnixNowMicros();
    const archive::ArchiveChange like{
        .op = 'r', .commit_lsn = tasks_.base + task.id, .commit_time = prepared.commit_time};
    auto file = archive::WriteQuerySegment(writer, TableSchemaOf(TableDefOf(*relation)),
                                           snapshot::BulkSelectSql(relation->types, chunk.csv_path),
                                           like, archive_.scratch_dir());
    std::error_code ec;
    std::filesystem::remove(chunk.csv_path, ec);
    if (file) {
      prepared.segment = std::move(*file);
    } else {
      prepared.failure = OneLine(file.error().message);
    }
    return {};
  }

  Status Deliver(snapshot::ReadChunkResult&& chunk) {
    const auto [t, c] = tasks_.positions[chunk.id];
    const Prepared& prepared = tasks_.prepared[chunk.id];
    const int64_t commit_time = prepared.commit_time ? prepared.commit_time : UnixNowMicros();
    const pg::TransactionInfo info{.commit_lsn = Lsn{tasks_.base + chunk.id},
                                   .end_lsn = Lsn{tasks_.base + chunk.id},
                                   .commit_time = commit_time - kPgEpochUnixMicros};
    ++delivered_;
    snapshot::Chunk& planned = plan_.job.tables[t].chunks[c];
    planned.delivered = info.commit_lsn.value;
    planned.rows = static_cast<int64_t>(chunk.rows.size());
    if (auto saved = snapshot::SaveJob(job_path_, plan_.job); !saved) return saved;
    Result<int64_t> loaded = chunk.csv_path.empty()
                                 ? LoadRows(t, info, std::move(chunk.rows))
                                 : LoadPrepared(t, c, info, prepared, chunk.csv_bytes);
    if (!loaded) return std::unexpected(loaded.error());
    planned.rows = *loaded;  // recorded with the next chunk's save (progress only)
    rows_ += *loaded;
    if (auto ok = mirror_.FlushIfDue(); !ok) return ok;
    return archive_.FlushDue() ? FlushBoth(archive_, mirror_) : Status{};
  }

 private:
  Result<int64_t> LoadRows(size_t t, const pg::TransactionInfo& info,
                           std::vector<pg::pgoutput::Tuple>&& rows) {
    const auto& relation = plan_.relations[t];
    std::vector<pg::Change> changes;
    changes.reserve(rows.size() + 1);
    changes.push_back({.kind = pg::Change::Kind::kSchemaChange, .relation = relation});
    for (auto& row : rows) {
      changes.push_back(
          {.kind = pg::Change::Kind::kRead, .relation = relation, .new_tuple = std::move(row)});
    }
    const auto count = static_cast<int64_t>(changes.size() - 1);
    pg::CommittedTransaction txn(info, std::move(changes));
    Sink* const sinks[] = {&archive_, &mirror_};
    if (auto ok = pipeline::Deliver(typer_, txn, sinks); !ok) return std::unexpected(ok.error());
    return count;
  }

  // The archive takes the reader's file; the mirror loads the same typed rows from it (no
  // second CSV parse) in its next merge, which comes before any archive flush (FlushBoth),
  // the only thing that removes the file. A chunk DuckDB could not read exactly is read
  // again as text (the catalog connection still holds the load's snapshot).
  Result<int64_t> LoadPrepared(size_t t, size_t c, const pg::TransactionInfo& info,
                               const Prepared& prepared, int64_t bytes) {
    const auto& relation = plan_.relations[t];
    if (!prepared.segment) {
      spdlog::warn("snapshot: {} chunk {}: reading it again as text: {}", relation->name.Display(),
                   c + 1, prepared.failure);
      std::vector<pg::pgoutput::Tuple> tuples;
      auto read_again =
          snapshot::ReadChunk(catalog_, plan_.sources[t], plan_.job.tables[t].chunks[c], 0, tuples);
      if (!read_again) return std::unexpected(read_again.error());
      return LoadRows(t, info, std::move(tuples));
    }
    const archive::SegmentFile& file = *prepared.segment;
    std::vector<std::string> columns;
    for (const auto& column : relation->columns) columns.push_back(QuoteIdent(column.name));
    const std::string select = "SELECT " + Join(columns, ", ") + " FROM read_parquet(" +
                               QuoteLiteral(file.local_path) + ")";
    const auto table = typer_.TableOf(relation);
    if (auto ok = mirror_.ApplyBulk(InfoOf(info), table, select); !ok) {
      return std::unexpected(ok.error());
    }
    if (auto ok = archive_.AddSegment(InfoOf(info), table, file, bytes); !ok) {
      return std::unexpected(ok.error());
    }
    return file.rows;
  }

  Plan& plan_;
  Tasks& tasks_;
  pg::Connection& catalog_;
  ArchiveSink& archive_;
  MirrorSink& mirror_;
  ChangeTyper typer_;
  std::string job_path_;
  uint64_t delivered_ = 0;
  int64_t rows_ = 0;
};

}  // namespace

Status InitialLoad(const Config& config, ArchiveSink& archive, MirrorSink& mirror) {
  auto rep = pg::ReplicationConnection::Open(config.source.url);
  if (!rep) return std::unexpected(rep.error());
  // The snapshot's text forms must be the stream's (pg::kReplicationSessionOptions).
  auto catalog =
      pg::Connection::Open(config.source.url, {.options = pg::kReplicationSessionOptions});
  if (!catalog) return std::unexpected(catalog.error());
  auto selected = pg::ResolveTables(*catalog, config.source.tables);
  if (!selected) return std::unexpected(selected.error());
  // The publication must exist before the slot: pgoutput reads it as of each change.
  if (auto ok = rep->EnsurePublication(config.source.publication, *selected); !ok) return ok;
  auto slot = rep->EnsureSlot(
      {.name = config.source.slot, .failover = config.source.failover, .export_snapshot = true});
  if (!slot) return std::unexpected(slot.error());
  if (auto imported = snapshot::ImportSnapshot(*catalog, slot->snapshot_name); !imported) {
    return imported;
  }
  auto plan = MakePlan(config, *catalog, *slot);
  if (!plan) return std::unexpected(plan.error());
  const std::string csv_dir = SnapshotChunksDir(config.data_dir);
  std::error_code ec;
  std::filesystem::remove_all(csv_dir, ec);
  std::filesystem::create_directories(csv_dir, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot create " + csv_dir + ": " + ec.message());
  Tasks tasks = MakeTasks(*plan, csv_dir, slot->consistent_point.value);
  const std::string job_path = SnapshotJobPath(config.data_dir);
  if (auto saved = snapshot::SaveJob(job_path, plan->job); !saved) return saved;
  spdlog::info("snapshot: initial load of {} tables in {} chunks at {} with {} readers",
               plan->job.tables.size(), tasks.reads.size(), slot->consistent_point.ToString(),
               config.snapshot.workers);
  const int workers = std::max(1, static_cast<int>(config.snapshot.workers));
  std::vector<duck::Connection> writers;
  for (int w = 0; w < workers; ++w) {
    auto writer = archive.OpenSegmentWriter();
    if (!writer) return std::unexpected(writer.error());
    writers.push_back(std::move(*writer));
  }
  // One DuckDB thread per database while loading: the readers write segments side by side
  // and their PostgreSQL backends need cores too; DuckDB's own threads only contended
  // (snapshot_bench on 2 vCPUs: 318k rows/s with DuckDB's default, 470k with one).
  if (auto ok = archive.SetThreads(1); !ok) return ok;
  if (auto ok = mirror.mirror().SetThreads(1); !ok) return ok;
  struct RestoreThreads {
    ArchiveSink& archive;
    MirrorSink& mirror;
    ~RestoreThreads() {
      (void)archive.SetThreads(ArchiveSink::kFlushThreads);
      (void)mirror.mirror().SetThreads(0);
    }
  } restore{archive, mirror};
  Loader loader(*plan, tasks, *catalog, archive, mirror, job_path);
  int64_t estimated = 0;
  for (const auto& table : plan->job.tables) estimated += table.estimated_rows;
  const auto started = Clock::now();
  auto last_report = started;
  auto deliver = [&](snapshot::ReadChunkResult&& chunk) -> Status {
    if (auto ok = loader.Deliver(std::move(chunk)); !ok) return ok;
    if (Clock::now() - last_report > std::chrono::seconds(2)) {
      last_report = Clock::now();
      const double seconds = std::chrono::duration<double>(last_report - started).count();
      spdlog::info("snapshot: {} of ~{} rows, {} of {} chunks, {:.0f} rows/s", loader.rows(),
                   std::max(loader.rows(), estimated), loader.delivered(), tasks.reads.size(),
                   loader.rows() / seconds);
    }
    return {};
  };
  auto prepare = [&](int worker, const snapshot::ReadTask& task, snapshot::ReadChunkResult& chunk) {
    return loader.Prepare(writers[worker], task, chunk);
  };
  Status read = snapshot::ReadParallel(config.source.url, slot->snapshot_name, workers, tasks.reads,
                                       deliver, prepare);
  if (read) read = FlushBoth(archive, mirror);
  std::filesystem::remove_all(csv_dir, ec);
  if (!read) return read;
  std::filesystem::remove(job_path, ec);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  spdlog::info("snapshot: initial load done: {} rows of {} tables in {:.1f} s ({:.0f} rows/s)",
               loader.rows(), plan->job.tables.size(), seconds,
               loader.rows() / std::max(seconds, 1e-3));
  return {};
}

}  // namespace walden::pipeline
