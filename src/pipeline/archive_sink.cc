#include "pipeline/archive_sink.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/units.h"
#include "pipeline/mirror_sink.h"

namespace walden::pipeline {
namespace {

// The old key or row exactly as PostgreSQL sent it (text forms), keyed by column name.
std::string BeforeJson(const pg::RelationInfo& relation, const pg::pgoutput::Tuple& tuple) {
  nlohmann::json before = nlohmann::json::object();
  for (size_t i = 0; i < tuple.size() && i < relation.columns.size(); ++i) {
    switch (tuple.values[i].kind) {
      case pg::pgoutput::ValueKind::kNull:
        before[relation.columns[i].name] = nullptr;
        break;
      case pg::pgoutput::ValueKind::kUnchangedToast:
        break;
      default:
        before[relation.columns[i].name] = std::string(tuple.Data(i));
    }
  }
  return before.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
    auto def = mirror::TableDefFromJson(*json);
    if (!def) return Fail(ErrorKind::kIo, "archive " + key + ": " + def.error().message);
    recorded_[def->name] = std::move(*def);
  }
  return {};
}

void ArchiveSink::NoteDefinition(const pg::RelationInfo& relation, Lsn commit_lsn) {
  mirror::TableDef def = TableDefOf(relation);
  auto it = recorded_.find(def.name);
  if (it == recorded_.end() || it->second.relation_id != def.relation_id ||
      !it->second.SameShape(def)) {
    pending_definitions_[DefinitionKey(def.name, commit_lsn)] = mirror::TableDefToJson(def);
    recorded_[def.name] = std::move(def);
  }
}

archive::TableSchema TableSchemaOf(const pg::RelationInfo& relation) {
  archive::TableSchema schema{
      .name = relation.name, .version = relation.version, .types = relation.types};
  for (const auto& column : relation.columns) schema.columns.push_back(column.name);
  return schema;
}

const archive::TableSchema& ArchiveSink::SchemaOf(
    const std::shared_ptr<const pg::RelationInfo>& relation, Lsn commit_lsn) {
  auto [it, inserted] = schemas_.try_emplace(relation);
  if (inserted) {
    it->second = TableSchemaOf(*relation);
    NoteDefinition(*relation, commit_lsn);
  }
  return it->second;
}

Result<std::unique_ptr<ArchiveSink>> ArchiveSink::Open(store::ObjectStore& store,
                                                       ArchiveSinkOptions options) {
  std::unique_ptr<ArchiveSink> sink(new ArchiveSink(store, std::move(options)));
  if (auto leased =
          sink->manifest_.AcquireLease(sink->options_.lease_owner, std::chrono::seconds(60));
      !leased) {
    return std::unexpected(leased.error());
  }
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
  return sink;
}

Status ArchiveSink::AppendChange(const pg::TransactionInfo& info, int64_t seq,
                                 const pg::Change& change) {
  using Kind = pg::Change::Kind;
  archive::ArchiveChange out{.commit_lsn = info.commit_lsn.value,
                             .seq = seq,
                             .xid = info.xid,
                             .commit_time = PgTimeToUnixMicros(info.commit_time)};
  const bool restart = change.kind == Kind::kReset || change.kind == Kind::kRefillStart;
  if (change.kind == Kind::kTruncate || restart) {
    // A TRUNCATE is a change too: one 't' row per table, columns NULL. A snapshot's reset
    // is an 's' row: walden's copy starts over there from the `r` rows that follow (a
    // rebuild from the archive must forget what came before, as the mirror did).
    out.op = restart ? 's' : 't';
    const auto& relations =
        restart ? std::vector<std::shared_ptr<const pg::RelationInfo>>{change.relation}
                : change.truncated;
    for (const auto& relation : relations) {
      toast_.ForgetTable(relation->name);
      out.values.assign(relation->columns.size(), Datum(Null{}));
      if (auto ok = spool_->Append(SchemaOf(relation, info.commit_lsn), std::span(&out, 1)); !ok) {
        return ok;
      }
    }
    return {};
  }
  if (change.kind == Kind::kMessage) {
    canaries_.Offer(change.prefix, change.content);
    return {};
  }
  if (change.kind != Kind::kInsert && change.kind != Kind::kUpdate &&
      change.kind != Kind::kDelete && change.kind != Kind::kRead) {
    // Schema changes travel as new schema versions; which copy the mirror shows is the
    // mirror's business (kRefillDone).
    return {};
  }
  const pg::RelationInfo& relation = *change.relation;
  const pg::pgoutput::Tuple& image =
      change.kind == Kind::kDelete ? change.old_tuple : change.new_tuple;
  auto row = pg::ParseTuple(relation, image);
  if (!row) return std::unexpected(row.error());
  out.op = change.kind == Kind::kInsert   ? 'c'
           : change.kind == Kind::kRead   ? 'r'
           : change.kind == Kind::kUpdate ? 'u'
                                          : 'd';
  std::vector<std::string> unchanged;
  for (size_t i = 0; i < row->size(); ++i) {
    if (!(*row)[i]) unchanged.push_back(relation.columns[i].name);
  }
  // Unchanged TOAST values: filled from what this run saw, else below from the spool and
  // the archived files; either way the names are recorded in _walden_unchanged.
  const bool filled = RememberValues(change, *row);
  for (auto& value : *row) out.values.push_back(value ? std::move(*value) : Datum(Null{}));
  out.unchanged = std::move(unchanged);
  if (change.kind == Kind::kUpdate && change.old_kind) {
    out.before = BeforeJson(relation, change.old_tuple);
  }
  pending_bytes_ += static_cast<int64_t>(image.bytes.size() + 64);
  if (auto ok = spool_->Append(SchemaOf(change.relation, info.commit_lsn), std::span(&out, 1));
      !ok) {
    return ok;
  }
  return filled ? Status{} : FillUnchanged(change, out);
}

bool ArchiveSink::RememberValues(const pg::Change& change, std::vector<std::optional<Datum>>& row) {
  using Kind = pg::Change::Kind;
  const pg::RelationInfo& relation = *change.relation;
  const std::string key = ToastCache::KeyOf(
      relation, change.kind == Kind::kDelete ? change.old_tuple : change.new_tuple);
  if (change.kind == Kind::kDelete) {
    toast_.Forget(relation.name, key);
    return true;
  }
  // An update that changed the key names the row by its old key.
  const std::string old_key = change.kind == Kind::kUpdate && change.old_kind
                                  ? ToastCache::KeyOf(relation, change.old_tuple)
                                  : key;
  const bool missing = std::ranges::any_of(row, [](const auto& v) { return !v.has_value(); });
  const bool filled = !missing || toast_.Fill(relation, old_key.empty() ? key : old_key, row);
  if (!old_key.empty() && old_key != key) toast_.Forget(relation.name, old_key);
  toast_.Remember(relation, key, row);
  return filled;
}

Result<std::vector<std::string>> ArchiveSink::HistoryFiles(const QualifiedName& table) {
  std::vector<std::string> paths;
  for (const auto& [key, file] : state_.live) {
    if (file.table != table) continue;
    auto path = store::LocalPath(store_, key, options_.scratch_dir + "/history");
    if (!path) return std::unexpected(path.error());
    paths.push_back(std::move(*path));
  }
  return paths;
}

Status ArchiveSink::FillUnchanged(const pg::Change& change, const archive::ArchiveChange& out) {
  const pg::RelationInfo& relation = *change.relation;
  std::vector<std::string> keys;
  for (const auto& column : relation.columns) {
    if (column.is_key()) keys.push_back(column.name);
  }
  std::vector<std::string> unfilled = out.unchanged;
  if (!keys.empty()) {
    auto history = HistoryFiles(relation.name);
    if (!history) return std::unexpected(history.error());
    auto result = spool_->FillUnchanged(SchemaOf(change.relation, Lsn{out.commit_lsn}), keys,
                                        out.unchanged, out.commit_lsn, out.seq, *history);
    if (!result) return std::unexpected(result.error());
    unfilled = std::move(*result);
  }
  if (!unfilled.empty()) {
    spdlog::warn(
        "archive: {} at {}: unchanged TOAST value of {} is unknown (the row predates "
        "the archive; a snapshot of the table fixes this); left NULL",
        relation.name.Display(), Lsn{out.commit_lsn}.ToString(), unfilled.front());
  }
  return {};
}

Status ArchiveSink::Apply(const pg::CommittedTransaction& txn) {
  const pg::TransactionInfo& info = txn.info();
  if (info.commit_lsn <= state_.watermark.commit_lsn) return {};  // archived before a restart
  if (pending_rows() == 0) first_pending_ = std::chrono::steady_clock::now();
  int64_t seq = 0;
  const int64_t rows_before = spool_->rows();
  if (auto ok =
          txn.ForEach([&](const pg::Change& change) { return AppendChange(info, seq++, change); });
      !ok) {
    return ok;
  }
  Spooled(info, spool_->rows() > rows_before);
  return {};
}

void ArchiveSink::Spooled(const pg::TransactionInfo& info, bool added) {
  if (added) pending_commit_times_.push_back(PgTimeToUnixMicros(info.commit_time));
  pending_ = {info.commit_lsn, info.end_lsn};
  // A transaction that added no rows needs no commit: replaying it writes nothing.
  if (pending_rows() == 0) {
    durable_ = pending_;
    canaries_.Durable();
  }
}

Status ArchiveSink::AddSegment(const pg::TransactionInfo& info,
                               const std::shared_ptr<const pg::RelationInfo>& relation,
                               archive::SegmentFile file, int64_t source_bytes) {
  if (info.commit_lsn <= state_.watermark.commit_lsn) {  // archived before a restart
    std::error_code ec;
    std::filesystem::remove(file.local_path, ec);
    return {};
  }
  if (pending_rows() == 0) first_pending_ = std::chrono::steady_clock::now();
  SchemaOf(relation, info.commit_lsn);  // records the definition the file uses
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

Status ArchiveSink::FlushIfDue() { return FlushDue() ? Flush() : Status{}; }

Status ArchiveSink::RenewLease() {
  return manifest_.AcquireLease(options_.lease_owner, std::chrono::seconds(60));
}

Status ArchiveSink::Flush() {
  if (pending_rows() == 0) {
    durable_ = pending_;
    return {};
  }
  if (auto leased = manifest_.AcquireLease(options_.lease_owner, std::chrono::seconds(60));
      !leased) {
    return leased;
  }
  const auto started = std::chrono::steady_clock::now();
  auto files = spool_->WriteSegments(options_.scratch_dir);
  if (!files) return std::unexpected(files.error());
  files->insert(files->end(), ready_.begin(), ready_.end());
  for (const archive::SegmentFile& file : *files) {
    if (auto ok = store_.PutFile(file.key, file.local_path); !ok) return ok;
  }
  const size_t count = files->size();
  for (const auto& [key, json] : pending_definitions_) {
    if (auto ok = store_.Put(key, json); !ok) return ok;
  }
  pending_definitions_.clear();
  if (auto ok = manifest_.Commit(state_, pending_, *files); !ok) return ok;
  for (const archive::SegmentFile& file : *files) {
    std::error_code ec;
    std::filesystem::remove(file.local_path, ec);
  }
  const int64_t rows = pending_rows();
  if (auto ok = spool_->Clear(); !ok) return ok;
  ready_.clear();
  durable_ = pending_;
  canaries_.Durable();
  pending_bytes_ = 0;
  last_flush_ = UnixNowMicros();
  last_cost_ = std::chrono::steady_clock::now() - started;
  flush_duration_.Observe(std::chrono::duration<double>(last_cost_).count());
  for (int64_t commit_time : pending_commit_times_) {
    latency_.Observe(static_cast<double>(last_flush_ - commit_time) / 1e6);
  }
  pending_commit_times_.clear();
  spdlog::info("archive: commit {} with {} files, {} changes, up to {}", state_.last_sequence,
               count, rows, durable_.commit_lsn.ToString());
  return {};
}

}  // namespace walden::pipeline
