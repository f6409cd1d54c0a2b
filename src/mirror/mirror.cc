#include "mirror/mirror.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/strings.h"
#include "duck/appender.h"
#include "mirror/merge.h"

namespace walden::mirror {

struct Mirror::Stage {
  std::string table;
  change::TableDef def;
  std::vector<ColumnType> types;  // the stage table's layout
  std::optional<duck::Appender> appender;
  int64_t inserts = 0;
  int64_t updates = 0;
  int64_t deletes = 0;
  bool has_unchanged = false;
  std::vector<size_t> before;       // the columns of the old image (BeforeColumns)
  std::vector<const Datum*> cells;  // the row being appended, pointing at its values
};

struct Mirror::Step {
  enum class Kind { kCreate, kAlter, kMerge, kTruncate, kReset, kPromote, kLoad };
  Kind kind = Kind::kMerge;
  uint32_t relation_id = 0;
  change::TableDef def;  // kCreate, kAlter, kReset: the new definition
  std::unique_ptr<Stage> stage;
  std::string select_sql;  // kLoad
};

namespace {

constexpr std::string_view kSchemaSql =
    "CREATE SCHEMA IF NOT EXISTS walden;"
    "CREATE TABLE IF NOT EXISTS walden.state (commit_lsn UBIGINT, end_lsn UBIGINT, "
    "commit_time TIMESTAMPTZ, merged_at TIMESTAMPTZ);"
    "CREATE TABLE IF NOT EXISTS walden.tables (relation_id UBIGINT, schema_name VARCHAR, "
    "table_name VARCHAR, state VARCHAR, reason VARCHAR, version INTEGER, inserts BIGINT, "
    "updates BIGINT, deletes BIGINT, truncates BIGINT, skipped BIGINT, definition JSON);";

std::vector<size_t> BeforeColumns(const change::TableDef& def) {
  switch (def.mode()) {
    case change::MatchMode::kKey:
      return def.KeyIndexes();
    case change::MatchMode::kFullRow: {
      std::vector<size_t> all(def.columns.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      return all;
    }
    case change::MatchMode::kAppendOnly:
      return {};
  }
  return {};
}

// The state of a table the mirror follows under `def`.
const char* FollowingState(const change::TableDef& def) {
  if (def.building) return kStateRefilling;
  return def.mode() == change::MatchMode::kAppendOnly ? kStateAppendOnly : kStateStreaming;
}

int64_t Int(duck::QueryResult& result, size_t row, size_t column) {
  return duckdb_value_int64(result.get(), column, row);
}

}  // namespace

Mirror::~Mirror() = default;

Result<std::unique_ptr<Mirror>> Mirror::Open(const std::string& path, MirrorOptions options) {
  std::unique_ptr<Mirror> mirror(new Mirror());
  auto database = duck::Database::Open(path);
  if (!database) {
    const std::string& why = database.error().message;
    const bool damaged = duck::IsDamage(why);
    return Fail(database.error().kind,
                "cannot open the mirror " + path + ": " + why +
                    (damaged ? " (the file is damaged: move it away and run `walden mirror "
                               "rebuild`, which replays the archive)"
                             : " (is another walden using it? only one process may write a "
                               "DuckDB file)"));
  }
  mirror->database_ = std::make_unique<duck::Database>(std::move(*database));
  auto conn = duck::Connection::Open(*mirror->database_);
  if (!conn) return std::unexpected(conn.error());
  mirror->conn_ = std::make_unique<duck::Connection>(std::move(*conn));
  mirror->fault_out_of_memory_below_parts_ = options.fault_out_of_memory_below_parts;
  std::string settings = "SET memory_limit = " + QuoteLiteral(options.memory_limit) + ";";
  if (options.threads > 0) settings += fmt::format("SET threads = {};", options.threads);
  if (auto ok = mirror->conn_->Execute(settings); !ok) return std::unexpected(ok.error());
  if (options.allowed_directories) {
    std::vector<std::string> allowed = *options.allowed_directories;
    // DuckDB's spill files
    allowed.push_back(std::filesystem::absolute(path + ".tmp").lexically_normal().string());
    if (auto ok = mirror->database_->Contain(allowed); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = mirror->conn_->Execute(kSchemaSql); !ok) return std::unexpected(ok.error());
  if (auto ok = mirror->LoadState(); !ok) return std::unexpected(ok.error());
  return mirror;
}

Status Mirror::LoadState() {
  registry_.clear();
  current_.clear();
  watermark_ = {};
  auto state =
      conn_->Query("SELECT commit_lsn, end_lsn, epoch_us(commit_time) FROM walden.state LIMIT 1");
  if (!state) return std::unexpected(state.error());
  if (state->rows() == 1) {
    watermark_ = {Lsn{static_cast<uint64_t>(duckdb_value_uint64(state->get(), 0, 0))},
                  Lsn{static_cast<uint64_t>(duckdb_value_uint64(state->get(), 1, 0))},
                  Int(*state, 0, 2)};
  }
  auto tables = conn_->Query(
      "SELECT relation_id, state, reason, version, inserts, updates, deletes, truncates, "
      "skipped, definition FROM walden.tables");
  if (!tables) return std::unexpected(tables.error());
  for (size_t row = 0; row < tables->rows(); ++row) {
    auto def = change::TableDefFromJson(tables->Text(row, 9).value_or(""));
    if (!def) return Fail(ErrorKind::kIo, "mirror registry: " + def.error().message);
    TableStatus table{.def = std::move(*def),
                      .state = tables->Text(row, 1).value_or(kStateStreaming),
                      .reason = tables->Text(row, 2).value_or(""),
                      .version = static_cast<int>(Int(*tables, row, 3)),
                      .inserts = Int(*tables, row, 4),
                      .updates = Int(*tables, row, 5),
                      .deletes = Int(*tables, row, 6),
                      .truncates = Int(*tables, row, 7),
                      .skipped = Int(*tables, row, 8)};
    table.def.building = table.state == kStateRefilling;
    current_[table.def.relation_id] = table.def;
    registry_[table.def.relation_id] = std::move(table);
  }
  return {};
}

Status Mirror::Define(const change::TableDef& def) {
  auto it = current_.find(def.relation_id);
  if (it != current_.end() && it->second.SameShape(def)) return {};
  auto step = std::make_unique<Step>();
  step->kind = it == current_.end() ? Step::Kind::kCreate : Step::Kind::kAlter;
  step->relation_id = def.relation_id;
  step->def = def;
  // A copy being refilled stays where it is being built.
  if (it != current_.end()) step->def.building = it->second.building;
  // Changes after this step use the new definition: they go to a new stage.
  open_stages_.erase(def.relation_id);
  current_[def.relation_id] = step->def;
  steps_.push_back(std::move(step));
  return {};
}

Result<Mirror::Stage*> Mirror::OpenStage(uint32_t relation_id) {
  if (auto it = open_stages_.find(relation_id); it != open_stages_.end()) return it->second;
  auto def = current_.find(relation_id);
  if (def == current_.end()) {
    return Fail(ErrorKind::kInternal,
                fmt::format("change for relation {} before its definition", relation_id));
  }
  auto stage = std::make_unique<Stage>();
  stage->table = fmt::format("walden_stage_{}", next_stage_++);
  stage->def = def->second;
  const ColumnType bigint{.kind = TypeKind::kInt64}, text{.kind = TypeKind::kText};
  stage->types = {bigint, text, bigint, bigint, text, bigint};
  std::string columns =
      "_rid BIGINT, _op VARCHAR, _lsn BIGINT, _seq BIGINT, _unch VARCHAR, "
      "_prev BIGINT";
  for (size_t i = 0; i < stage->def.columns.size(); ++i) {
    stage->types.push_back(stage->def.columns[i].type);
    columns += fmt::format(", c{} {}", i, stage->def.columns[i].type.DuckDbName());
  }
  stage->before = BeforeColumns(stage->def);
  const std::vector<size_t>& before = stage->before;
  for (size_t b = 0; b < before.size(); ++b) {
    stage->types.push_back(stage->def.columns[before[b]].type);
    columns += fmt::format(", b{} {}", b, stage->def.columns[before[b]].type.DuckDbName());
  }
  if (auto ok = conn_->Execute(fmt::format("CREATE TEMP TABLE {} ({})", stage->table, columns));
      !ok) {
    return std::unexpected(ok.error());
  }
  auto appender = duck::Appender::Open(*conn_, "main", stage->table, "temp");
  if (!appender) return std::unexpected(appender.error());
  stage->appender.emplace(std::move(*appender));
  auto step = std::make_unique<Step>();
  step->relation_id = relation_id;
  Stage* raw = stage.get();
  step->stage = std::move(stage);
  steps_.push_back(std::move(step));
  open_stages_[relation_id] = raw;
  return raw;
}

Status Mirror::Add(uint32_t relation_id, const MirrorChange& change) {
  auto opened = OpenStage(relation_id);
  if (!opened) return std::unexpected(opened.error());
  Stage& stage = **opened;
  const change::TableDef& def = stage.def;
  const size_t width = def.columns.size();
  if (change.op != 'd' && change.values.size() != width) {
    return Fail(ErrorKind::kInternal, fmt::format("{} values for the {} columns of {}",
                                                  change.values.size(), width, def.name.Display()));
  }
  std::string unchanged;
  for (size_t i = 0; i < change.values.size(); ++i) {
    if (!change.values[i] && unchanged.empty()) unchanged.assign(width, '0');
    if (!change.values[i]) unchanged[i] = '1';
  }
  stage.has_unchanged |= !unchanged.empty();
  const Datum meta[] = {Datum(int64_t{next_rid_++}), Datum(std::string(1, change.op)),
                        Datum(static_cast<int64_t>(change.lsn)), Datum(change.seq),
                        unchanged.empty() ? Datum(Null{}) : Datum(std::move(unchanged))};
  std::vector<const Datum*>& cells = stage.cells;
  cells.clear();
  for (const Datum& value : meta) cells.push_back(&value);
  cells.push_back(nullptr);  // _prev
  for (size_t i = 0; i < width; ++i) {
    const bool known = i < change.values.size() && change.values[i];
    cells.push_back(known ? &*change.values[i] : nullptr);
  }
  const std::vector<size_t>& before = stage.before;
  if (!change.before.empty() && change.before.size() != before.size()) {
    return Fail(ErrorKind::kInternal,
                fmt::format("old image of {} has {} values, expected {}", def.name.Display(),
                            change.before.size(), before.size()));
  }
  for (size_t b = 0; b < before.size(); ++b) {
    // Without an old image the key did not change: old key = new key.
    cells.push_back(!change.before.empty() ? &change.before[b] : cells[6 + before[b]]);
  }
  (change.op == 'u' ? stage.updates : change.op == 'd' ? stage.deletes : stage.inserts)++;
  ++pending_changes_;
  if (auto ok = stage.appender->AppendRow(stage.types, std::span<const Datum* const>(cells)); !ok) {
    return Wrap(ok.error(), "mirror: staging changes of " + def.name.Display());
  }
  return {};
}

Status Mirror::Truncate(uint32_t relation_id) {
  if (!current_.contains(relation_id)) return {};  // never mirrored: nothing to empty
  open_stages_.erase(relation_id);
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kTruncate;
  step->relation_id = relation_id;
  steps_.push_back(std::move(step));
  ++pending_changes_;
  return {};
}

Status Mirror::Reset(const change::TableDef& def, bool keep_old) {
  open_stages_.erase(def.relation_id);
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kReset;
  step->relation_id = def.relation_id;
  step->def = def;
  // Without an old copy there is nothing to keep: the new one fills in place.
  step->def.building = keep_old && current_.contains(def.relation_id);
  current_[def.relation_id] = step->def;
  steps_.push_back(std::move(step));
  ++pending_changes_;
  return {};
}

Status Mirror::Load(uint32_t relation_id, std::string select_sql) {
  if (!current_.contains(relation_id)) {
    return Fail(ErrorKind::kInternal, "mirror: load into an undefined relation");
  }
  open_stages_.erase(relation_id);
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kLoad;
  step->relation_id = relation_id;
  step->select_sql = std::move(select_sql);
  steps_.push_back(std::move(step));
  ++pending_changes_;
  return {};
}

Status Mirror::Promote(uint32_t relation_id) {
  auto it = current_.find(relation_id);
  if (it == current_.end() || !it->second.building) return {};
  open_stages_.erase(relation_id);
  auto step = std::make_unique<Step>();
  step->kind = Step::Kind::kPromote;
  step->relation_id = relation_id;
  it->second.building = false;
  step->def = it->second;
  steps_.push_back(std::move(step));
  ++pending_changes_;
  return {};
}

Status Mirror::StageQuery(uint32_t relation_id, const std::string& select_sql) {
  auto opened = OpenStage(relation_id);
  if (!opened) return std::unexpected(opened.error());
  Stage& stage = **opened;
  stage.appender.reset();
  const std::string sql = fmt::format(
      "INSERT INTO {} BY NAME SELECT * EXCLUDE (_rn), _rn + {} AS _rid FROM "
      "(SELECT *, row_number() OVER (ORDER BY _lsn, _seq) AS _rn FROM ({}))",
      stage.table, next_rid_, select_sql);
  if (auto ok = conn_->Execute(sql); !ok) return ok;
  auto counts = conn_->Query(
      "SELECT count(*) FILTER (WHERE _op IN ('c', 'r')), count(*) FILTER (WHERE _op = 'u'), "
      "count(*) FILTER (WHERE _op = 'd'), max(_rid) FROM " +
      stage.table);
  if (!counts) return std::unexpected(counts.error());
  stage.inserts += Int(*counts, 0, 0);
  stage.updates += Int(*counts, 0, 1);
  stage.deletes += Int(*counts, 0, 2);
  pending_changes_ += Int(*counts, 0, 0) + Int(*counts, 0, 1) + Int(*counts, 0, 2);
  next_rid_ = std::max(next_rid_, Int(*counts, 0, 3) + 1);
  open_stages_.erase(relation_id);  // the next change starts a new stage
  return {};
}

Status Mirror::SaveTable(const TableStatus& table, bool with_definition) {
  const uint32_t id = table.def.relation_id;
  if (!with_definition) {  // a merge only moved the counts
    return conn_->Execute(fmt::format(
        "UPDATE walden.tables SET inserts = {}, updates = {}, deletes = {}, truncates = {}, "
        "skipped = {} WHERE relation_id = {}",
        table.inserts, table.updates, table.deletes, table.truncates, table.skipped, id));
  }
  return conn_->Execute(fmt::format(
      "DELETE FROM walden.tables WHERE relation_id = {id}; INSERT INTO walden.tables VALUES "
      "({id}, {schema}, {name}, {state}, {reason}, {version}, {c}, {u}, {d}, {t}, {skipped}, "
      "{definition})",
      fmt::arg("id", id), fmt::arg("schema", QuoteLiteral(table.def.name.schema)),
      fmt::arg("name", QuoteLiteral(table.def.name.name)),
      fmt::arg("state", QuoteLiteral(table.state)), fmt::arg("reason", QuoteLiteral(table.reason)),
      fmt::arg("version", table.version), fmt::arg("c", table.inserts),
      fmt::arg("u", table.updates), fmt::arg("d", table.deletes), fmt::arg("t", table.truncates),
      fmt::arg("skipped", table.skipped),
      fmt::arg("definition", QuoteLiteral(change::TableDefToJson(table.def)))));
}

Status Mirror::RunStep(Step& step) {
  using Kind = Step::Kind;
  if (step.kind == Kind::kCreate ||
      (step.kind == Kind::kReset && !registry_.contains(step.relation_id))) {
    return RunCreate(step);
  }
  TableStatus& table = registry_.at(step.relation_id);
  const bool following = table.state != kStateResync;
  switch (step.kind) {
    case Kind::kAlter:
      return RunAlter(step, table);
    case Kind::kTruncate:
      ++table.truncates;
      if (!following) return {};
      return conn_->Execute("DELETE FROM " + table.def.Physical().ToSql());
    case Kind::kMerge:
      return RunMerge(step, table);
    case Kind::kReset:
      return RunReset(step, table);
    case Kind::kPromote:
      return RunPromote(step, table);
    case Kind::kLoad:
      return RunLoad(step, table);
    case Kind::kCreate:
      break;
  }
  return {};
}

Status Mirror::RunCreate(Step& step) {
  TableStatus table{.def = step.def};
  table.reason = internal::UnsupportedReason(step.def);
  for (auto it = registry_.begin(); it != registry_.end();) {
    // The same name under a new relation id: the source table was dropped and created again.
    if (it->first != step.relation_id && it->second.def.name == step.def.name) {
      spdlog::warn("mirror: {} was dropped and created again in PostgreSQL; replacing its copy",
                   step.def.name.Display());
      if (auto ok = conn_->Execute(
              "DROP TABLE IF EXISTS " + step.def.name.ToSql() +
              "; DELETE FROM walden.tables WHERE relation_id = " + std::to_string(it->first));
          !ok) {
        return ok;
      }
      it = registry_.erase(it);
      continue;
    }
    ++it;
  }
  for (const auto& [id, other] : registry_) {
    if (id != step.relation_id &&
        AsciiLower(other.def.name.schema) == AsciiLower(step.def.name.schema) &&
        AsciiLower(other.def.name.name) == AsciiLower(step.def.name.name)) {
      table.reason = fmt::format(
          "{} and {} differ only in case, and DuckDB names ignore case; "
          "rename one of them in PostgreSQL",
          step.def.name.Display(), other.def.name.Display());
    }
  }
  if (table.reason.empty()) {
    if (auto ok = internal::CreateTable(*conn_, step.def); !ok) return ok;
    table.state = FollowingState(step.def);
  } else {
    table.state = kStateResync;
    spdlog::error("mirror: {} is not mirrored: {}", step.def.name.Display(), table.reason);
  }
  registry_[step.relation_id] = std::move(table);
  return {};
}

Status Mirror::RunReset(Step& step, TableStatus& table) {
  // A refill drops only an earlier unfinished new copy; a reset drops the table itself.
  const QualifiedName dropped = step.def.building ? step.def.Physical() : table.def.Physical();
  if (auto ok = conn_->Execute("DROP TABLE IF EXISTS " + dropped.ToSql()); !ok) return ok;
  if (table.def.building && !step.def.building) {
    if (auto ok = conn_->Execute("DROP TABLE IF EXISTS " + table.def.name.ToSql()); !ok) {
      return ok;
    }
  }
  const TableStatus before = std::move(table);
  registry_.erase(step.relation_id);
  if (auto ok = RunCreate(step); !ok) return ok;
  TableStatus& fresh = registry_.at(step.relation_id);
  fresh.version = before.version + 1;
  fresh.inserts = before.inserts;
  fresh.updates = before.updates;
  fresh.deletes = before.deletes;
  fresh.truncates = before.truncates;
  fresh.skipped = before.skipped;
  return {};
}

Status Mirror::RunPromote(Step& step, TableStatus& table) {
  if (!table.def.building) return {};
  const std::string building = table.def.Physical().ToSql();
  // A copy, not a rename: DuckDB cannot commit an ALTER of a table this transaction changed.
  const std::string statements[] = {
      "DROP TABLE IF EXISTS " + table.def.name.ToSql(),
      "CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(table.def.name.schema),
      fmt::format("CREATE TABLE {} AS SELECT * FROM {}", table.def.name.ToSql(), building),
      "DROP TABLE " + building};
  for (const std::string& sql : statements) {
    if (auto ok = conn_->Execute(sql); !ok) return ok;
  }
  table.def = step.def;
  if (table.state == kStateRefilling) table.state = FollowingState(table.def);
  spdlog::info("mirror: {}: the refilled copy replaced the old one", table.def.name.Display());
  return {};
}

Status Mirror::RunAlter(Step& step, TableStatus& table) {
  const bool following = table.state != kStateResync;
  if (!following) {
    table.def = step.def;
    return {};
  }
  auto reason = internal::AlterTable(*conn_, table.def, step.def);
  if (!reason) return std::unexpected(reason.error());
  if (!reason->empty()) {
    table.state = kStateResync;
    table.reason = *reason;
    spdlog::error(
        "mirror: {} stopped at this change: {}; its mirror copy keeps the state "
        "before it until the table is re-snapshotted (walden snapshot --table {})",
        step.def.name.Display(), *reason, step.def.name.Display());
  } else {
    table.state = FollowingState(step.def);
  }
  table.def = step.def;
  ++table.version;
  return {};
}

Status Mirror::RunMerge(Step& step, TableStatus& table) {
  const bool following = table.state != kStateResync;
  Stage& stage = *step.stage;
  if (!following) {
    table.skipped += stage.inserts + stage.updates + stage.deletes;
    return {};
  }
  internal::StageRef ref{.table = stage.table,
                         .def = &stage.def,
                         .has_unchanged = stage.has_unchanged,
                         .rows = stage.inserts + stage.updates + stage.deletes,
                         .parts = merge_parts_};
  Result<internal::MergeCounts> counts;
  switch (stage.def.mode()) {
    case change::MatchMode::kKey:
      if (merge_parts_ < fault_out_of_memory_below_parts_) {
        counts = Fail(ErrorKind::kResources, "DuckDB: Out of Memory Error: injected");
        break;
      }
      counts = internal::MergeKeyed(*conn_, ref);
      break;
    case change::MatchMode::kFullRow:
      counts = internal::MergeFullRow(*conn_, ref);
      break;
    case change::MatchMode::kAppendOnly:
      counts = internal::MergeAppendOnly(*conn_, ref);
      break;
  }
  if (!counts) {
    return Wrap(counts.error(), fmt::format("mirror: merging {} changes into {}", ref.rows,
                                            stage.def.name.Display()));
  }
  if (counts->unmatched > 0) {
    spdlog::warn(
        "mirror: {}: {} updates or deletes found no matching row (rows older than the "
        "mirror; a snapshot of the table fixes this)",
        stage.def.name.Display(), counts->unmatched);
  }
  if (counts->unresolved > 0) {
    spdlog::warn(
        "mirror: {}: {} unchanged TOAST values of rows the mirror does not hold are "
        "left NULL (a snapshot of the table fixes this)",
        stage.def.name.Display(), counts->unresolved);
  }
  table.inserts += stage.inserts;
  table.updates += stage.updates;
  table.deletes += stage.deletes;
  return {};
}

Status Mirror::RunLoad(Step& step, TableStatus& table) {
  if (table.state == kStateResync) return {};  // a re-snapshot will fill it
  std::vector<std::string> columns;
  for (const change::ColumnDef& column : table.def.columns)
    columns.push_back(QuoteIdent(column.name));
  auto rows = conn_->ExecuteCount(fmt::format("INSERT INTO {} ({}) SELECT * FROM ({})",
                                              table.def.Physical().ToSql(), Join(columns, ", "),
                                              step.select_sql));
  if (!rows) return Wrap(rows.error(), "mirror: loading " + table.def.name.Display());
  table.inserts += *rows;
  return {};
}

Status Mirror::Commit(const MirrorWatermark& watermark) {
  for (auto& step : steps_) {
    if (step->stage && step->stage->appender) {
      if (auto ok = step->stage->appender->Flush(); !ok) {
        return Wrap(ok.error(), "mirror: staging changes of " + step->stage->def.name.Display());
      }
      step->stage->appender.reset();
    }
  }
  // A batch DuckDB cannot merge within its memory limit (one huge transaction, a long
  // catch-up) is merged again in parts by key hash instead of ending walden.
  constexpr int kMostParts = 512;
  Status done;
  for (merge_parts_ = 1;; merge_parts_ *= 8) {
    done = CommitSteps(watermark);
    if (done) break;
    (void)conn_->Execute("ROLLBACK");
    // The steps changed the registry: back to what is committed. A retry keeps the
    // definitions its staged changes use (the steps never change those).
    std::map<uint32_t, change::TableDef> staged = current_;
    if (auto reloaded = LoadState(); !reloaded) {
      done = reloaded;
      break;
    }
    if (done.error().kind != ErrorKind::kResources || merge_parts_ >= kMostParts) break;
    current_ = std::move(staged);
    spdlog::warn(
        "{}; merging the {} changes again in {} parts (raise mirror.memory_limit if "
        "this repeats)",
        done.error().message, pending_changes_, merge_parts_ * 8);
  }
  merge_parts_ = 1;
  std::string drops;
  for (auto& step : steps_) {
    if (step->stage) drops += "DROP TABLE IF EXISTS " + step->stage->table + ";";
  }
  steps_.clear();
  open_stages_.clear();
  pending_changes_ = 0;
  if (!done) {
    (void)conn_->Execute(drops);
    return done;
  }
  watermark_ = watermark;
  return conn_->Execute(drops);
}

Status Mirror::CommitSteps(const MirrorWatermark& watermark) {
  if (auto ok = conn_->Execute("BEGIN TRANSACTION"); !ok) return ok;
  std::map<uint32_t, bool> touched;  // relation → its definition or state changed
  for (auto& step : steps_) {
    if (auto ok = RunStep(*step); !ok) return ok;
    const bool defined = step->kind != Step::Kind::kMerge && step->kind != Step::Kind::kTruncate &&
                         step->kind != Step::Kind::kLoad;
    touched[step->relation_id] |= defined;
  }
  for (const auto& [id, defined] : touched) {
    if (auto ok = SaveTable(registry_.at(id), defined); !ok) return ok;
  }
  const std::string state = fmt::format(
      "DELETE FROM walden.state; INSERT INTO walden.state VALUES ({}, {}, make_timestamptz({}), "
      "now())",
      watermark.commit_lsn.value, watermark.end_lsn.value, watermark.commit_time);
  if (auto ok = conn_->Execute(state); !ok) return ok;
  return conn_->Execute("COMMIT");
}

std::vector<TableStatus> Mirror::Tables() const {
  std::vector<TableStatus> tables;
  for (const auto& [id, table] : registry_) tables.push_back(table);
  return tables;
}

}  // namespace walden::mirror
