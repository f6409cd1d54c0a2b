#include "pipeline/initial_load.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "common/units.h"
#include "pg/catalog.h"
#include "pg/replication.h"
#include "snapshot/job.h"
#include "snapshot/online.h"
#include "snapshot/parallel_read.h"

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
  auto tables = snapshot::PublishedTables(conn, config.source.publication);
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
    plan.relations.push_back(relations.Update(source->relation).relation);
    plan.sources.push_back(std::move(*source));
  }
  return plan;
}

}  // namespace

std::string SnapshotJobPath(const std::string& data_dir) { return data_dir + "/snapshot.json"; }

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

Status InitialLoad(const Config& config, ArchiveSink& archive, MirrorSink& mirror) {
  auto rep = pg::ReplicationConnection::Open(config.source.url);
  if (!rep) return std::unexpected(rep.error());
  auto catalog = pg::Connection::Open(config.source.url);
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
  snapshot::Job& job = plan->job;
  std::vector<snapshot::ReadTask> tasks;
  for (size_t t = 0; t < job.tables.size(); ++t) {
    for (size_t c = 0; c < job.tables[t].chunks.size(); ++c) {
      tasks.push_back(
          {.table = &plan->sources[t], .chunk = &job.tables[t].chunks[c], .id = t << 32 | c});
    }
  }
  // One LSN per chunk, below the consistent point (a streamed commit may sit right on it).
  const uint64_t base = slot->consistent_point.value - tasks.size() - 1;
  const std::string job_path = SnapshotJobPath(config.data_dir);
  if (auto saved = snapshot::SaveJob(job_path, job); !saved) return saved;
  spdlog::info("snapshot: initial load of {} tables in {} chunks at {} with {} readers",
               job.tables.size(), tasks.size(), slot->consistent_point.ToString(),
               config.snapshot.workers);
  const auto started = Clock::now();
  auto last_report = started;
  uint64_t delivered = 0;
  int64_t rows = 0, estimated = 0;
  for (const auto& table : job.tables) estimated += table.estimated_rows;
  auto load = [&](snapshot::ReadChunkResult&& chunk) -> Status {
    const size_t t = chunk.id >> 32, c = chunk.id & 0xffffffff;
    const pg::TransactionInfo info{.commit_lsn = Lsn{base + delivered},
                                   .end_lsn = Lsn{base + delivered},
                                   .commit_time = UnixNowMicros() - kPgEpochUnixMicros};
    ++delivered;
    job.tables[t].chunks[c].delivered = info.commit_lsn.value;
    job.tables[t].chunks[c].rows = static_cast<int64_t>(chunk.rows.size());
    if (auto saved = snapshot::SaveJob(job_path, job); !saved) return saved;
    rows += static_cast<int64_t>(chunk.rows.size());
    std::vector<pg::Change> changes;
    changes.reserve(chunk.rows.size() + 1);
    changes.push_back({.kind = pg::Change::Kind::kSchemaChange, .relation = plan->relations[t]});
    for (auto& row : chunk.rows) {
      changes.push_back({.kind = pg::Change::Kind::kRead,
                         .relation = plan->relations[t],
                         .new_tuple = std::move(row)});
    }
    pg::CommittedTransaction txn(info, std::move(changes));
    if (auto ok = archive.Apply(txn); !ok) return ok;
    if (auto ok = mirror.Apply(txn); !ok) return ok;
    if (auto ok = mirror.FlushIfDue(); !ok) return ok;
    if (archive.FlushDue()) {
      if (auto ok = FlushBoth(archive, mirror); !ok) return ok;
    }
    if (Clock::now() - last_report > std::chrono::seconds(2)) {
      last_report = Clock::now();
      const double seconds = std::chrono::duration<double>(last_report - started).count();
      spdlog::info("snapshot: {} of ~{} rows, {} of {} chunks, {:.0f} rows/s", rows,
                   std::max(rows, estimated), delivered, tasks.size(), rows / seconds);
    }
    return {};
  };
  if (auto ok = snapshot::ReadParallel(config.source.url, slot->snapshot_name,
                                       static_cast<int>(config.snapshot.workers), tasks, load);
      !ok) {
    return ok;
  }
  if (auto ok = FlushBoth(archive, mirror); !ok) return ok;
  std::error_code ec;
  std::filesystem::remove(job_path, ec);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  spdlog::info("snapshot: initial load done: {} rows of {} tables in {:.1f} s ({:.0f} rows/s)",
               rows, job.tables.size(), seconds, rows / std::max(seconds, 1e-3));
  return {};
}

}  // namespace walden::pipeline
