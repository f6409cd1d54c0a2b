#include "pipeline/archive_sink.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "archive/maintenance.h"
#include "common/thread_name.h"
#include "common/units.h"

namespace walden::pipeline {
namespace {

// The single-writer lease: renewed a third of its lifetime, so two renewals may fail (a
// store outage) before it lapses.
constexpr std::chrono::seconds kLeaseTtl{60};
constexpr std::chrono::seconds kLeaseRenewal{20};

// archive.flush_size counts the source's bytes, as PostgreSQL sent them: a value's payload
// (its text or bytes; 8 for fixed-size values), not its size in memory.
constexpr int64_t kRowOverhead = 64;
int64_t PayloadBytes(const Datum& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return std::ssize(*text);
  if (const auto* blob = std::get_if<Blob>(&value)) return std::ssize(blob->bytes);
  if (const auto* list = std::get_if<List>(&value)) {
    int64_t bytes = 8;
    for (const Datum& item : list->items) bytes += PayloadBytes(item);
    return bytes;
  }
  return 8;
}

}  // namespace

std::string DefinitionKey(const QualifiedName& table, Lsn first_lsn) {
  return fmt::format("{}{}/{}/{:016X}.json", kDefinitionPrefix,
                     archive::EncodePathSegment(table.schema),
                     archive::EncodePathSegment(table.name), first_lsn.value);
}

Status ArchiveSink::LoadDefinitions() {
  auto listed = store_.List(kDefinitionPrefix);
  if (!listed) return std::unexpected(listed.error());
  std::map<std::string, std::string> latest;  // "<schema>/<table>/" → newest key
  for (const store::ObjectInfo& object : *listed) {
    const std::string dir = object.key.substr(0, object.key.rfind('/') + 1);
    if (object.key > latest[dir]) latest[dir] = object.key;
  }
  for (const auto& [dir, key] : latest) {
    auto json = store_.Get(key);
    if (!json) return std::unexpected(json.error());
    auto def = change::TableDefFromJson(*json);
    if (!def) return Fail(ErrorKind::kIo, "archive " + key + ": " + def.error().message);
    recorded_[def->name] = std::move(*def);
  }
  return {};
}

void ArchiveSink::NoteDefinition(const change::TableDef& table, Lsn commit_lsn) {
  auto it = recorded_.find(table.name);
  if (it == recorded_.end() || it->second.relation_id != table.relation_id ||
      !it->second.SameShape(table)) {
    pending_definitions_[DefinitionKey(table.name, commit_lsn)] = change::TableDefToJson(table);
    recorded_[table.name] = table;
  }
}

archive::TableSchema TableSchemaOf(const change::TableDef& table) {
  archive::TableSchema schema{.name = table.name, .version = table.version};
  for (const auto& column : table.columns) {
    schema.columns.push_back(column.name);
    schema.types.push_back(column.type);
  }
  const std::vector<size_t> keys = table.KeyIndexes();
  if (keys.size() == 1) {
    const TypeKind kind = table.columns[keys[0]].type.kind;
    if (kind == TypeKind::kInt16 || kind == TypeKind::kInt32 || kind == TypeKind::kInt64 ||
        kind == TypeKind::kText) {
      schema.key_column = keys[0];
    }
  }
  return schema;
}

const archive::TableSchema& ArchiveSink::SchemaOf(
    const std::shared_ptr<const change::TableDef>& table, Lsn commit_lsn) {
  auto [it, inserted] = schemas_.try_emplace(table);
  if (inserted) {
    it->second = TableSchemaOf(*table);
    NoteDefinition(*table, commit_lsn);
  }
  return it->second;
}

Result<std::unique_ptr<ArchiveSink>> ArchiveSink::Open(store::ObjectStore& store,
                                                       ArchiveSinkOptions options) {
  std::unique_ptr<ArchiveSink> sink(new ArchiveSink(store, std::move(options)));
  if (auto leased = sink->manifest_.AcquireLease(sink->options_.lease_owner, kLeaseTtl); !leased) {
    return std::unexpected(leased.error());
  }
  sink->lease_keeper_ = std::make_unique<archive::LeaseKeeper>(
      sink->manifest_, sink->options_.lease_owner, kLeaseRenewal, kLeaseTtl);
  auto state = sink->manifest_.Load();
  if (!state) return std::unexpected(state.error());
  sink->state_ = std::move(*state);
  sink->durable_ = sink->pending_ = sink->state_.watermark;
  if (auto loaded = sink->LoadDefinitions(); !loaded) return std::unexpected(loaded.error());
  // Segment files never uploaded (a killed flush or load): their changes come again.
  std::error_code ec;
  std::filesystem::remove_all(sink->options_.scratch_dir + "/tables", ec);
  auto spool = archive::Spool::Open(sink->options_.spool_path, sink->options_.memory_limit);
  if (!spool) return std::unexpected(spool.error());
  sink->spool_ = std::move(*spool);
  // Flushes run beside the loop and the mirror's merges: one core for the Parquet encoding
  // keeps the other free for them (on 2 cores, two threads made commit→mirror p99 worse).
  if (auto ok = sink->SetThreads(kFlushThreads); !ok) return std::unexpected(ok.error());
  return sink;
}

Status ArchiveSink::AppendRestart(const change::Change& change) {
  // A TRUNCATE is a change too: one 't' row per table, columns NULL. A snapshot's reset
  // is an 's' row: walden's copy starts over there from the `r` rows that follow (a
  // rebuild from the archive must forget what came before, as the mirror did).
  archive::ArchiveChange out{.op = change::OpCode(change.op),
                             .commit_lsn = txn_.commit_lsn.value,
                             .seq = change.seq,
                             .xid = txn_.xid,
                             .commit_time = txn_.commit_time};
  const auto& tables = change.op == change::Op::kTruncate
                           ? change.truncated
                           : std::vector<std::shared_ptr<const change::TableDef>>{change.table};
  for (const auto& table : tables) {
    toast_.ForgetTable(table->name);
    out.values.assign(table->columns.size(), Datum(Null{}));
    if (auto ok = spool_->Append(SchemaOf(table, txn_.commit_lsn), std::span(&out, 1)); !ok) {
      return ok;
    }
  }
  return {};
}

Status ArchiveSink::Add(const change::Change& change) {
  using change::Op;
  switch (change.op) {
    case Op::kTruncate:
    case Op::kReset:
    case Op::kRefillStart:
      return AppendRestart(change);
    case Op::kMessage:
      canaries_.Offer(change.prefix, change.content);
      return {};
    case Op::kSchemaChange:
    case Op::kRefillDone:
      // Schema changes travel as new schema versions; which copy the mirror shows is the
      // mirror's business (kRefillDone).
      return {};
    case Op::kInsert:
    case Op::kUpdate:
    case Op::kDelete:
    case Op::kRead:
      break;
  }
  const change::TableDef& table = *change.table;
  archive::ArchiveChange out{.op = change::OpCode(change.op),
                             .commit_lsn = txn_.commit_lsn.value,
                             .seq = change.seq,
                             .xid = txn_.xid,
                             .commit_time = txn_.commit_time};
  change::Row row = change.row;
  for (size_t i = 0; i < row.size(); ++i) {
    if (!row[i]) out.unchanged.push_back(table.columns[i].name);
  }
  // Unchanged TOAST values: filled from what this run saw, else below from the spool and
  // the archived files; either way the names are recorded in _walden_unchanged.
  const bool filled = RememberValues(change, row);
  out.values.reserve(row.size());
  int64_t bytes = kRowOverhead;
  for (auto& value : row) {
    bytes += value ? PayloadBytes(*value) : 1;
    out.values.push_back(value ? std::move(*value) : Datum(Null{}));
  }
  if (!change.before_json.empty()) out.before = change.before_json;
  pending_bytes_ += bytes;
  const archive::TableSchema& schema = SchemaOf(change.table, txn_.commit_lsn);
  if (auto ok = spool_->Append(schema, std::span(&out, 1)); !ok) return ok;
  return filled ? Status{} : FillUnchanged(table, schema, out);
}

bool ArchiveSink::RememberValues(const change::Change& change, change::Row& row) {
  const change::TableDef& table = *change.table;
  const bool missing = std::ranges::any_of(row, [](const auto& v) { return !v.has_value(); });
  // Most tables never have a value left out: remembering their rows would cost memory and
  // CPU for nothing. A table's first marker is filled from the spool and the archive.
  if (missing) toasted_.insert(table.name);
  if (!toasted_.contains(table.name)) return true;
  const std::string key = change::KeyOf(table, row);
  if (change.op == change::Op::kDelete) {
    toast_.Forget(table.name, key);
    return true;
  }
  // An update that changed the key names the row by its old key.
  const std::string old_key =
      change.op == change::Op::kUpdate && change.old_image != change::OldImage::kNone
          ? change::KeyOf(table, change.before)
          : key;
  const bool filled = !missing || toast_.Fill(table, old_key.empty() ? key : old_key, row);
  if (!old_key.empty() && old_key != key) toast_.Forget(table.name, old_key);
  toast_.Remember(table, key, row);
  return filled;
}

Result<std::vector<std::string>> ArchiveSink::HistoryFiles(const QualifiedName& table) {
  std::vector<std::string> paths;
  for (const auto& [key, file] : state_.live) {
    if (file.table != table) continue;
    auto path = store::LocalPath(store_, key, options_.scratch_dir + "/history");
    if (!path) return std::unexpected(path.error());
    // Archived files never change: one check per file and run is enough.
    if (!checked_.contains(key)) {
      if (auto ok = archive::CheckFile(file, *path); !ok) return std::unexpected(ok.error());
      checked_.insert(key);
    }
    paths.push_back(std::move(*path));
  }
  return paths;
}

Status ArchiveSink::FillUnchanged(const change::TableDef& table, const archive::TableSchema& schema,
                                  const archive::ArchiveChange& out) {
  std::vector<std::string> keys;
  for (const auto& column : table.columns) {
    if (column.key) keys.push_back(column.name);
  }
  std::vector<std::string> unfilled = out.unchanged;
  if (!keys.empty()) {
    auto history = HistoryFiles(table.name);
    if (!history) return std::unexpected(history.error());
    auto result =
        spool_->FillUnchanged(schema, keys, out.unchanged, out.commit_lsn, out.seq, *history);
    if (!result) return std::unexpected(result.error());
    unfilled = std::move(*result);
  }
  if (!unfilled.empty()) {
    spdlog::warn(
        "archive: {} at {}: unchanged TOAST value of {} is unknown (the row predates "
        "the archive; a snapshot of the table fixes this); left NULL",
        table.name.Display(), Lsn{out.commit_lsn}.ToString(), unfilled.front());
  }
  return {};
}

bool ArchiveSink::Begin(const change::TransactionInfo& txn) {
  if (txn.commit_lsn <= state_.watermark.commit_lsn) return false;  // archived before a restart
  if (pending_rows() == 0) first_pending_ = std::chrono::steady_clock::now();
  txn_ = txn;
  rows_before_ = spool_->rows();
  return true;
}

void ArchiveSink::Commit() { Spooled(txn_, spool_->rows() > rows_before_); }

void ArchiveSink::Spooled(const change::TransactionInfo& info, bool added) {
  if (added) pending_commit_times_.push_back(info.commit_time);
  pending_ = {info.commit_lsn, info.end_lsn};
  // A transaction that added no rows needs no commit: replaying it writes nothing (unless
  // a flush in flight has not made the ones before it durable yet).
  if (pending_rows() == 0 && !job_) {
    durable_ = pending_;
    canaries_.Durable();
  }
}

Status ArchiveSink::AddSegment(const change::TransactionInfo& info,
                               const std::shared_ptr<const change::TableDef>& table,
                               archive::SegmentFile file, int64_t source_bytes) {
  if (info.commit_lsn <= state_.watermark.commit_lsn) {  // archived before a restart
    std::error_code ec;
    std::filesystem::remove(file.local_path, ec);
    return {};
  }
  if (pending_rows() == 0) first_pending_ = std::chrono::steady_clock::now();
  SchemaOf(table, info.commit_lsn);  // records the definition the file uses
  pending_bytes_ += source_bytes;
  const bool added = file.rows > 0;
  ready_.push_back(std::move(file));
  Spooled(info, added);
  return {};
}

bool ArchiveSink::FlushDue() const {
  if (pending_rows() == 0) return false;
  // As for merges (mirror_sink.h): a flush slower than the interval waits as long as the
  // last one took, so catching up writes fewer, larger segments.
  const bool old_enough =
      std::chrono::steady_clock::now() - first_pending_ >=
      std::max<std::chrono::steady_clock::duration>(options_.flush_interval, last_cost_);
  return old_enough || pending_bytes_ >= options_.flush_size;
}

Status ArchiveSink::LeaseStatus() {
  if (auto problem = lease_keeper_->TakeProblem()) return std::unexpected(*problem);
  return {};
}

ArchiveSink::~ArchiveSink() {
  if (job_ && job_->outcome.valid()) job_->outcome.wait();
}

Status ArchiveSink::StartFlush() {
  const int64_t rows = pending_rows();
  auto sealed = spool_->Seal();
  if (!sealed) return std::unexpected(sealed.error());
  job_ = std::make_unique<FlushJob>();
  job_->rows = rows;
  job_->tables = std::move(*sealed);
  job_->ready = std::exchange(ready_, {});
  job_->definitions = std::exchange(pending_definitions_, {});
  job_->watermark = pending_;
  job_->commit_times = std::exchange(pending_commit_times_, {});
  job_->canaries = canaries_.pending_count();
  pending_bytes_ = 0;
  Launch();
  return {};
}

void ArchiveSink::Launch() {
  job_->started = std::chrono::steady_clock::now();
  job_->outcome = std::async(std::launch::async, [this, job = job_.get(), state = state_] {
    SetThreadName("wal-flush");
    return RunFlush(*job, state);
  });
}

Result<std::pair<archive::ArchiveState, size_t>> ArchiveSink::RunFlush(
    const FlushJob& job, archive::ArchiveState state) {
  // Checked again before writing anything: a writer that lost the lease stops here.
  if (auto leased = manifest_.AcquireLease(options_.lease_owner, kLeaseTtl); !leased) {
    return std::unexpected(leased.error());
  }
  auto conn = duck::Connection::Open(spool_->database());
  if (!conn) return std::unexpected(conn.error());
  // Segment days are UTC days (a setting of each connection).
  if (auto ok = conn->Execute("SET TimeZone = 'UTC'"); !ok) return std::unexpected(ok.error());
  auto files = archive::WriteSpoolSegments(*conn, job.tables, options_.scratch_dir);
  if (!files) return std::unexpected(files.error());
  files->insert(files->end(), job.ready.begin(), job.ready.end());
  for (const archive::SegmentFile& file : *files) {
    if (auto ok = store_.PutFile(file.key, file.local_path); !ok)
      return std::unexpected(ok.error());
  }
  for (const auto& [key, json] : job.definitions) {
    if (auto ok = store_.Put(key, json); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = manifest_.Commit(state, job.watermark, *files); !ok) {
    return std::unexpected(ok.error());
  }
  for (const archive::SegmentFile& file : *files) {
    std::error_code ec;
    std::filesystem::remove(file.local_path, ec);
  }
  return std::pair{std::move(state), files->size()};
}

Status ArchiveSink::Collect(bool wait) {
  if (!job_ || !job_->outcome.valid()) return {};
  if (!wait && job_->outcome.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    return {};
  }
  auto outcome = job_->outcome.get();
  if (!outcome) {
    // The sealed generation stays as it is and is written again: a retry names the same
    // changes, so its files and commit are the same ones.
    retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    return std::unexpected(outcome.error());
  }
  state_ = std::move(outcome->first);
  if (auto ok = spool_->DropSealed(); !ok) return ok;
  durable_ = job_->watermark;
  canaries_.DurableFirst(job_->canaries);
  // Transactions without rows that came during the flight are durable with it.
  if (pending_rows() == 0) {
    durable_ = pending_;
    canaries_.Durable();
  }
  last_flush_ = UnixNowMicros();
  last_cost_ = std::chrono::steady_clock::now() - job_->started;
  flush_duration_.Observe(std::chrono::duration<double>(last_cost_).count());
  for (int64_t commit_time : job_->commit_times) {
    latency_.Observe(static_cast<double>(last_flush_ - commit_time) / 1e6);
  }
  spdlog::info("archive: commit {} with {} files, {} changes, up to {}", state_.last_sequence,
               outcome->second, job_->rows, job_->watermark.commit_lsn.ToString());
  job_.reset();
  return {};
}

bool ArchiveSink::Due() const {
  if (!job_) return FlushDue();
  if (job_->outcome.valid()) {
    return job_->outcome.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  return std::chrono::steady_clock::now() >= retry_at_;
}

Status ArchiveSink::FlushIfDue() {
  if (job_) {
    if (job_->outcome.valid()) return Collect(false);
    if (std::chrono::steady_clock::now() >= retry_at_) Launch();
    return {};
  }
  return FlushDue() ? StartFlush() : Status{};
}

Status ArchiveSink::FlushBy(std::optional<std::chrono::steady_clock::time_point> deadline) {
  // The flush in flight (or a failed one), then what was spooled after it.
  for (int round = 0; round < 2; ++round) {
    if (!job_) {
      if (pending_rows() == 0) {
        durable_ = pending_;
        return {};
      }
      if (auto ok = StartFlush(); !ok) return ok;
    } else if (!job_->outcome.valid()) {
      Launch();
    }
    if (deadline && job_->outcome.wait_until(*deadline) != std::future_status::ready) {
      store_.Interrupt();
    }
    if (auto ok = Collect(true); !ok) return ok;
  }
  return {};
}

}  // namespace walden::pipeline
