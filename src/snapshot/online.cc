#include "snapshot/online.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <random>
#include <unordered_set>

#include "common/strings.h"
#include "pg/catalog.h"
#include "pg/types.h"

namespace walden::snapshot {
namespace {

using pg::Change;
using Kind = pg::Change::Kind;

// The key of a row image as bytes that equal exactly when the key values do: what the
// stream sends and what COPY reads are the same output-function text.
std::optional<std::string> KeyString(const pg::pgoutput::Tuple& tuple,
                                     const std::vector<size_t>& positions) {
  std::string key;
  for (size_t i : positions) {
    if (i >= tuple.size()) return std::nullopt;
    const auto kind = tuple.values[i].kind;
    if (kind == pg::pgoutput::ValueKind::kUnchangedToast) return std::nullopt;
    const std::string_view data = tuple.Data(i);
    key += static_cast<char>(kind);
    key += fmt::format("{}:", data.size());
    key += data;
  }
  return key;
}

}  // namespace

Result<ReadSnapshot> ParseSnapshot(const std::string& text) {
  const auto bad = [&] { return Fail(ErrorKind::kProtocol, "unexpected snapshot text: " + text); };
  const size_t first = text.find(':');
  const size_t second = text.find(':', first == std::string::npos ? 0 : first + 1);
  if (first == std::string::npos || second == std::string::npos) return bad();
  ReadSnapshot snapshot;
  auto xid = [](std::string_view digits) -> std::optional<uint32_t> {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return static_cast<uint32_t>(value);  // the epoch does not matter for recent xids
  };
  auto xmax = xid(std::string_view(text).substr(first + 1, second - first - 1));
  if (!xid(std::string_view(text).substr(0, first)) || !xmax) return bad();
  snapshot.xmax = *xmax;
  for (const std::string& item : Split(text.substr(second + 1), ',')) {
    if (item.empty()) continue;
    auto in_progress = xid(item);
    if (!in_progress) return bad();
    snapshot.in_progress.insert(*in_progress);
  }
  return snapshot;
}

std::string NewJobId() {
  std::random_device random;
  return fmt::format("{:08x}{:08x}", random(), random());
}

struct OnlineSnapshot::InFlight {
  size_t table = 0;
  size_t chunk = 0;
  std::string tag;
  bool reset = false;
  bool keyless = false;  // read whole; placed by snapshot visibility, not by keys
  bool retry = false;    // the read cannot be placed in the stream: read again
  bool delivered = false;
  ReadSnapshot snapshot;
  int64_t limit = 0;
  SourceTable source;
  std::shared_ptr<const pg::RelationInfo> relation;
  std::vector<pg::pgoutput::Tuple> rows;
  std::vector<pg::pgoutput::Tuple> gone;  // key repairs: old-key images of keys not read
  std::vector<bool> dropped;              // rows, then gone
  std::unordered_map<std::string, size_t> index;
  std::shared_ptr<const pg::RelationInfo> key_positions_of;  // the definition they fit
  std::vector<size_t> key_positions;
  bool window = false;
};

OnlineSnapshot::OnlineSnapshot(OnlineOptions options, pg::Connection conn)
    : options_(std::move(options)),
      conn_(std::move(conn)),
      relations_([this](uint32_t oid) { return pg::LookupType(conn_, oid); },
                 [this](uint32_t id) { return pg::LookupAttributes(conn_, id); }) {}

OnlineSnapshot::~OnlineSnapshot() = default;

Result<std::unique_ptr<OnlineSnapshot>> OnlineSnapshot::Open(OnlineOptions options, Lsn durable) {
  auto job = LoadJob(options.job_path);
  if (!job) return std::unexpected(job.error());
  // The text forms of the rows it reads must be the stream's (keys are compared as text).
  auto conn = pg::Connection::Open(options.conninfo, {.options = pg::kReplicationSessionOptions});
  if (!conn) return std::unexpected(conn.error());
  std::unique_ptr<OnlineSnapshot> snapshot(new OnlineSnapshot(options, std::move(*conn)));
  if (*job) {
    snapshot->job_ = std::move(**job);
    Reconcile(*snapshot->job_, durable);
    if (auto saved = snapshot->Save(); !saved) return std::unexpected(saved.error());
    spdlog::info("snapshot: resuming {} of {} tables ({})", snapshot->job_->reason,
                 snapshot->job_->tables.size(), snapshot->job_->id);
  }
  return snapshot;
}

bool OnlineSnapshot::Queued(const QualifiedName& table) const {
  if (!job_) return false;
  for (const TableJob& queued : job_->tables) {
    if (queued.name == table) return true;
  }
  return false;
}

Status OnlineSnapshot::Request(const std::vector<QualifiedName>& tables,
                               const std::string& reason) {
  if (!job_) job_ = Job{.id = NewJobId(), .reason = reason};
  for (const QualifiedName& name : tables) {
    if (Queued(name)) continue;
    job_->tables.push_back({.name = name, .reset = true});
    spdlog::info("snapshot: {} queued ({})", name.Display(), reason);
  }
  return Save();
}

Status OnlineSnapshot::RequestKeys(const QualifiedName& table,
                                   std::vector<std::vector<std::string>> keys,
                                   const std::string& reason) {
  if (Queued(table)) return {};
  if (!job_) job_ = Job{.id = NewJobId(), .reason = reason};
  spdlog::info("snapshot: {} keys of {} queued ({})", keys.size(), table.Display(), reason);
  job_->tables.push_back({.name = table, .keys = std::move(keys)});
  return Save();
}

Status OnlineSnapshot::Emit(const std::string& content) {
  auto emitted = conn_.Exec(fmt::format("SELECT pg_catalog.pg_logical_emit_message(true, {}, {})",
                                        QuoteLiteral(kSnapshotPrefix), QuoteLiteral(content)));
  if (!emitted) return std::unexpected(emitted.error());
  return {};
}

Status OnlineSnapshot::Tick() {
  if (!job_ || flight_) return {};
  // PostgreSQL restarted since the last chunk: a new session (kConnection while it is away).
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    auto conn = pg::Connection::Open(
        options_.conninfo,
        {.connect_timeout_seconds = 2, .options = pg::kReplicationSessionOptions});
    if (!conn) return std::unexpected(conn.error());
    conn_ = std::move(*conn);
  }
  size_t t = 0;
  while (t < job_->tables.size() && job_->tables[t].read_all) ++t;
  if (t == job_->tables.size()) return {};
  TableJob& table = job_->tables[t];
  auto source = DescribeTable(conn_, table.name);
  if (!source) {
    if (source.error().kind != ErrorKind::kNotFound) return std::unexpected(source.error());
    spdlog::warn("snapshot: {} is gone from the source; skipped", table.name.Display());
    job_->tables.erase(job_->tables.begin() + static_cast<std::ptrdiff_t>(t));
    return Save();
  }
  auto flight = std::make_unique<InFlight>();
  flight->table = t;
  flight->source = std::move(*source);
  table.by_ctid = flight->source.order_key.empty();
  table.estimated_rows = static_cast<int64_t>(flight->source.estimated_rows);
  if (table.by_ctid) {
    table.chunks.assign(1, Chunk{});
    table.planned = false;
    flight->keyless = true;
    flight->reset = true;
  } else {
    if (!table.keys.empty()) {  // a key repair: one planned chunk, no reset
      table.planned = true;
      if (table.chunks.empty()) table.chunks.assign(1, Chunk{});
    }
    flight->reset = table.reset && table.reset_at == 0;
    auto next = std::ranges::find_if(table.chunks, [](const Chunk& c) { return !c.delivered; });
    if (next == table.chunks.end()) {
      Chunk chunk;
      if (!table.chunks.empty()) chunk.lo = table.chunks.back().hi;
      table.chunks.push_back(std::move(chunk));
      next = table.chunks.end() - 1;
    }
    flight->chunk = static_cast<size_t>(next - table.chunks.begin());
    flight->limit = table.planned ? 0 : options_.chunk_rows;
  }
  auto updated = relations_.Update(flight->source.relation);
  if (!updated) return std::unexpected(updated.error());
  flight->relation = updated->relation;
  std::random_device random;
  flight->tag = fmt::format("{}/{:08x}{:08x}", job_->id, random(), random());
  if (auto ok = Emit(flight->tag + " low"); !ok) return ok;
  if (auto read = Read(*flight, table, table.chunks[flight->chunk]); !read) {
    // A repair that cannot be read (keys the source's types refuse) is dropped, not fatal.
    if (table.keys.empty() || read.error().kind == ErrorKind::kConnection) return read;
    spdlog::error(
        "snapshot: the repair of {} keys of {} failed: {}; `walden snapshot --table "
        "{}` re-reads the whole table",
        table.keys.size(), table.name.Display(), read.error().message, table.name.Display());
    job_->tables.erase(job_->tables.begin() + static_cast<std::ptrdiff_t>(t));
    return Save();
  }
  flight->dropped.assign(flight->rows.size() + flight->gone.size(), false);
  if (!flight->keyless) {
    for (size_t i = 0; i < flight->dropped.size(); ++i) {
      const auto& image =
          i < flight->rows.size() ? flight->rows[i] : flight->gone[i - flight->rows.size()];
      if (auto key = KeyString(image, flight->source.order_key)) {
        flight->index.emplace(std::move(*key), i);
      }
    }
  }
  if (auto ok = Emit(flight->tag + " high"); !ok) return ok;
  flight_ = std::move(flight);
  return {};
}

Status OnlineSnapshot::ReadKeys(InFlight& flight, const TableJob& table) {
  const SourceTable& source = flight.source;
  if (auto ok = ReadCopyText(conn_, RowsOfKeysQuery(source, table.keys),
                             source.relation.columns.size(), flight.rows);
      !ok) {
    return ok;
  }
  // The keys in PostgreSQL's own text forms (those the stream uses and the rows show).
  std::vector<pg::pgoutput::Tuple> asked;
  if (auto ok = ReadCopyText(conn_, KeysQuery(source, table.keys), source.order_key.size(), asked);
      !ok) {
    return ok;
  }
  std::unordered_set<std::string> read;
  for (const auto& row : flight.rows) {
    if (auto key = KeyString(row, source.order_key)) read.insert(std::move(*key));
  }
  for (const auto& key : asked) {
    pg::pgoutput::Tuple image;
    image.values.resize(source.relation.columns.size());
    for (size_t k = 0; k < source.order_key.size(); ++k) {
      pg::pgoutput::Value& value = image.values[source.order_key[k]];
      value.kind = key.values[k].kind;
      value.offset = static_cast<uint32_t>(image.bytes.size());
      value.length = key.values[k].length;
      image.bytes += key.Data(k);
    }
    auto text = KeyString(image, source.order_key);
    if (text && read.insert(*text).second) flight.gone.push_back(std::move(image));
  }
  return {};
}

Status OnlineSnapshot::Read(InFlight& flight, const TableJob& table, const Chunk& chunk) {
  if (auto begun = conn_.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !begun) {
    return std::unexpected(begun.error());
  }
  auto read = [&]() -> Status {
    auto text = conn_.QueryValue("SELECT pg_catalog.pg_current_snapshot()::text");
    if (!text) return std::unexpected(text.error());
    auto snapshot = ParseSnapshot(*text);
    if (!snapshot) return std::unexpected(snapshot.error());
    flight.snapshot = std::move(*snapshot);
    if (!table.keys.empty() && !flight.keyless) return ReadKeys(flight, table);
    return ReadChunk(conn_, flight.source, chunk, flight.limit, flight.rows);
  }();
  if (!read) {
    (void)conn_.Exec("ROLLBACK");
    return read;
  }
  if (auto done = conn_.Exec("COMMIT"); !done) return std::unexpected(done.error());
  return {};
}

bool OnlineSnapshot::Touch(const Change& change, bool unseen) {
  InFlight& flight = *flight_;
  const uint32_t id = flight.source.relation.relation_id;
  if (change.kind == Kind::kTruncate) {
    const bool touches = std::ranges::any_of(
        change.truncated, [&](const auto& relation) { return relation->id == id; });
    // Keyed: the read may predate it. Keyless reads are placed by visibility instead.
    if (touches && (flight.window || unseen) && !flight.keyless) {
      flight.dropped.assign(flight.rows.size(), true);
    }
    return touches;
  }
  if (!change.relation || change.relation->id != id) return false;
  if (change.kind == Kind::kSchemaChange) {
    if (flight.window) flight.retry = true;  // the rows read may have the old shape
    return true;
  }
  if (change.kind != Kind::kInsert && change.kind != Kind::kUpdate &&
      change.kind != Kind::kDelete) {
    return false;
  }
  // PostgreSQL makes a commit visible a moment after it writes the commit record, so a
  // transaction just before the low watermark may still be missing from the read: its keys
  // go too (the stream carries their state), like those of transactions in the window.
  if (flight.keyless || !(flight.window || unseen)) return true;
  // The key columns where this change's definition has them (the same definition for every
  // change until a schema change: looked up once per definition).
  if (flight.key_positions_of != change.relation) {
    flight.key_positions_of = change.relation;
    flight.key_positions.clear();
    for (size_t k : flight.source.order_key) {
      const std::string& name = flight.source.relation.columns[k].name;
      size_t at = 0;
      while (at < change.relation->columns.size() && change.relation->columns[at].name != name) {
        ++at;
      }
      flight.key_positions.push_back(at);
    }
  }
  auto drop = [&](const pg::pgoutput::Tuple& image) {
    auto key = KeyString(image, flight.key_positions);
    if (!key) return;
    if (auto it = flight.index.find(*key); it != flight.index.end())
      flight.dropped[it->second] = true;
  };
  if (change.kind != Kind::kDelete) drop(change.new_tuple);
  if (change.old_kind) drop(change.old_tuple);
  return true;
}

Status OnlineSnapshot::Observe(pg::CommittedTransaction& txn) {
  if (!flight_) return {};
  InFlight& flight = *flight_;
  bool low = false, high = false, touches = false;
  auto visited = txn.ForEach([&](const Change& change) -> Status {
    if (change.kind == Kind::kMessage && change.prefix == kSnapshotPrefix) {
      low |= change.content == flight.tag + " low";
      high |= change.content == flight.tag + " high";
      flight.window |= low;
      return {};
    }
    touches |= Touch(change, !flight.snapshot.Includes(txn.info().xid));
    return {};
  });
  if (!visited) return visited;
  TableJob& table = job_->tables[flight.table];
  if (low && flight.reset && !flight.keyless) {
    // The old copy stays queryable while the chunks fill the new one (kRefillDone swaps).
    txn.Append({Change{.kind = Kind::kRefillStart, .relation = flight.relation}});
    table.reset_at = txn.info().commit_lsn.value;
    if (auto saved = Save(); !saved) return saved;
  }
  if (flight.keyless && touches && !flight.delivered && !flight.snapshot.Includes(txn.info().xid)) {
    if (!flight.window) {
      flight.retry = true;  // committed before the low watermark, yet not in the read
    } else if (!flight.retry) {
      // The first change the read does not include: the read belongs right before it.
      Deliver(txn, /*before=*/true);
      if (auto saved = Save(); !saved) return saved;
    }
  }
  if (!high) return {};
  if (flight.retry && !flight.delivered) {
    spdlog::info("snapshot: {} changed shape while it was read; reading it again",
                 table.name.Display());
    flight_.reset();
    return {};
  }
  if (!flight.delivered) Deliver(txn, /*before=*/false);
  flight_.reset();
  return Save();
}

void OnlineSnapshot::Deliver(pg::CommittedTransaction& txn, bool before) {
  InFlight& flight = *flight_;
  flight.delivered = true;
  TableJob& table = job_->tables[flight.table];
  Chunk& chunk = table.chunks[flight.chunk];
  chunk.delivered = txn.info().commit_lsn.value;
  chunk.rows = static_cast<int64_t>(flight.rows.size());
  if (table.by_ctid) {
    table.read_all = true;
  } else if (table.planned) {
    table.read_all = std::ranges::all_of(table.chunks, [](const Chunk& c) { return c.delivered; });
  } else {
    if (!flight.rows.empty()) chunk.hi = KeyOf(flight.source, flight.rows.back());
    table.read_all = static_cast<int64_t>(flight.rows.size()) < flight.limit;
  }
  std::vector<Change> changes;
  changes.reserve(flight.rows.size() + 2);
  // A whole-table read replaces walden's copy where it lands.
  if (flight.keyless) changes.push_back(Change{.kind = Kind::kReset, .relation = flight.relation});
  // Even an empty chunk defines the table in the sinks.
  changes.push_back(Change{.kind = Kind::kSchemaChange, .relation = flight.relation});
  for (size_t i = 0; i < flight.rows.size(); ++i) {
    if (flight.dropped[i]) continue;
    changes.push_back(Change{
        .kind = Kind::kRead, .relation = flight.relation, .new_tuple = std::move(flight.rows[i])});
  }
  for (size_t i = 0; i < flight.gone.size(); ++i) {
    if (flight.dropped[flight.rows.size() + i]) continue;  // the stream carries its state
    changes.push_back(Change{.kind = Kind::kDelete,
                             .relation = flight.relation,
                             .old_kind = 'K',
                             .old_tuple = std::move(flight.gone[i])});
  }
  if (!flight.keyless && table.reset && table.read_all) {
    changes.push_back(Change{.kind = Kind::kRefillDone, .relation = flight.relation});
  }
  if (before) {
    txn.Prepend(std::move(changes));
  } else {
    txn.Append(std::move(changes));
  }
}

Status OnlineSnapshot::Durable(Lsn durable) {
  if (!job_ || flight_) return {};
  bool changed = false;
  for (auto it = job_->tables.begin(); it != job_->tables.end();) {
    if (it->read_all && it->last_delivery() <= durable.value) {
      spdlog::info("snapshot: {} complete: {} rows", it->name.Display(), it->rows());
      it = job_->tables.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (job_->tables.empty()) {
    spdlog::info("snapshot: {} finished", job_->id);
    finished_.push_back(job_->id);
    if (finished_.size() > 16) finished_.erase(finished_.begin());
    job_.reset();
    std::error_code ec;
    std::filesystem::remove(options_.job_path, ec);
    return {};
  }
  return changed ? Save() : Status{};
}

Progress OnlineSnapshot::progress() const {
  Progress progress{.finished = finished_};
  if (!job_) return progress;
  progress.job = job_->id;
  progress.reason = job_->reason;
  for (const TableJob& table : job_->tables) {
    progress.tables.push_back({.name = table.name,
                               .rows = table.rows(),
                               .estimated_rows = table.estimated_rows,
                               .chunks_delivered = static_cast<size_t>(std::ranges::count_if(
                                   table.chunks, [](const Chunk& c) { return c.delivered; })),
                               .chunks = table.chunks.size()});
  }
  return progress;
}

}  // namespace walden::snapshot
