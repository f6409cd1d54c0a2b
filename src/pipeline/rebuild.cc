#include "pipeline/rebuild.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "archive/maintenance.h"
#include "archive/manifest.h"
#include "common/strings.h"
#include "mirror/mirror.h"
#include "pipeline/archive_sink.h"
#include "pipeline/change_typer.h"
#include "pipeline/mirror_sink.h"

namespace walden::pipeline {
namespace {

namespace fs = std::filesystem;

struct Period {
  Lsn first;  // first commit LSN using `def`
  Lsn until;  // the next definition of the same table name (exclusive); 0: none
  change::TableDef def;
};

Result<std::vector<Period>> LoadPeriods(store::ObjectStore& store, Lsn watermark) {
  auto listed = store.List(kDefinitionPrefix);
  if (!listed) return std::unexpected(listed.error());
  std::vector<Period> periods;
  for (const store::ObjectInfo& object : *listed) {
    const std::string name = object.key.substr(object.key.rfind('/') + 1);
    Lsn first{std::strtoull(name.c_str(), nullptr, 16)};
    if (first > watermark) continue;  // written by a flush that never committed
    auto json = store.Get(object.key);
    if (!json) return std::unexpected(json.error());
    auto def = change::TableDefFromJson(*json);
    if (!def) return Fail(ErrorKind::kIo, "archive " + object.key + ": " + def.error().message);
    for (change::ColumnDef& column : def->columns) {
      if (column.missing_text)
        column.missing = ParseMissingValue(column.type, *column.missing_text);
    }
    periods.push_back({first, Lsn{}, std::move(*def)});
  }
  std::ranges::sort(periods, [](const Period& a, const Period& b) { return a.first < b.first; });
  for (size_t i = 0; i < periods.size(); ++i) {
    for (size_t j = i + 1; j < periods.size(); ++j) {
      if (periods[j].def.name == periods[i].def.name) {
        periods[i].until = periods[j].first;
        break;
      }
    }
  }
  return periods;
}

// Whether `file` may hold commits at or before the scope's point (a file whose first commit
// comes after it is neither read nor downloaded).
bool BeforePoint(const archive::SegmentFile& file, const RebuildScope& scope,
                 std::optional<int64_t> until_micros) {
  if (scope.until_lsn && file.first_lsn > scope.until_lsn->value) return false;
  if (until_micros && file.min_commit_time > *until_micros) return false;
  return true;
}

// Local paths of the live files of `table` that may hold commits of the period.
Result<std::vector<std::string>> PeriodFiles(
    store::ObjectStore& store, const archive::ArchiveState& state, const Period& period,
    const std::string& scratch, const std::function<bool(const archive::SegmentFile&)>& wanted) {
  std::vector<std::string> paths;
  for (const auto& [key, file] : state.live) {
    if (file.table != period.def.name || file.last_lsn < period.first.value) continue;
    if (!wanted(file)) continue;
    if (period.until.value != 0 && file.first_lsn >= period.until.value) continue;
    auto path = store::LocalPath(store, key, scratch);
    if (!path) return std::unexpected(path.error());
    paths.push_back(std::move(*path));
  }
  return paths;
}

// The stage rows of one period: _op, _lsn, _seq, c0..cN, b0..bM (mirror/merge.h).
std::string StageSelect(const change::TableDef& def, const std::set<std::string>& present,
                        const std::string& source, const std::string& where) {
  auto value = [&](size_t i) {
    const change::ColumnDef& c = def.columns[i];
    return present.contains(c.name)
               ? fmt::format("CAST({} AS {})", QuoteIdent(c.name), c.type.DuckDbName())
               : "NULL::" + def.columns[i].type.DuckDbName();
  };
  // The old key or row of an update is in _walden_before as PostgreSQL's text forms.
  auto before = [&](size_t i) {
    return fmt::format(
        "CASE WHEN _walden_op = 'u' AND _walden_before IS NOT NULL THEN "
        "TRY_CAST(_walden_before::JSON ->> {} AS {}) ELSE {} END",
        QuoteLiteral(def.columns[i].name), def.columns[i].type.DuckDbName(), value(i));
  };
  std::string select = "_walden_op AS _op, _walden_lsn::BIGINT AS _lsn, _walden_seq AS _seq";
  for (size_t i = 0; i < def.columns.size(); ++i) select += fmt::format(", {} AS c{}", value(i), i);
  std::vector<size_t> before_columns;
  if (def.mode() == change::MatchMode::kKey) before_columns = def.KeyIndexes();
  if (def.mode() == change::MatchMode::kFullRow) {
    for (size_t i = 0; i < def.columns.size(); ++i) before_columns.push_back(i);
  }
  for (size_t b = 0; b < before_columns.size(); ++b) {
    select += fmt::format(", {} AS b{}", before(before_columns[b]), b);
  }
  return fmt::format("SELECT {} FROM {} WHERE _walden_op IN ('c', 'u', 'd', 'r') AND {}", select,
                     source, where);
}

// The last commit LSN at or before `time` in the in-scope live files (0: none), so that a
// time travels through schema changes as an LSN does: definitions first used after it
// are not applied.
Result<Lsn> LastLsnAt(duck::Connection& reader, const std::vector<std::string>& files,
                      const std::string& time) {
  if (files.empty()) return Lsn{};
  std::string list;
  for (const std::string& file : files) list += (list.empty() ? "" : ", ") + QuoteLiteral(file);
  auto last = reader.Query(fmt::format(
      "SELECT coalesce(max(_walden_lsn), 0) FROM read_parquet([{}], union_by_name = true) "
      "WHERE _walden_commit_ts <= CAST({} AS TIMESTAMPTZ)",
      list, QuoteLiteral(time)));
  if (!last) return std::unexpected(last.error());
  return Lsn{std::strtoull(last->Text(0, 0).value_or("0").c_str(), nullptr, 10)};
}

Status ReplayPeriod(mirror::Mirror& mirror, duck::Connection& reader, const Period& period,
                    const std::vector<std::string>& files, const std::string& until) {
  if (auto ok = mirror.Define(period.def); !ok) return ok;
  if (files.empty()) return {};
  std::string list;
  for (const std::string& file : files) list += (list.empty() ? "" : ", ") + QuoteLiteral(file);
  const std::string source = "read_parquet([" + list + "], union_by_name = true)";
  std::string where = fmt::format("_walden_lsn >= {}", period.first.value);
  if (period.until.value != 0) where += fmt::format(" AND _walden_lsn < {}", period.until.value);
  where += until;
  // Only what follows the last TRUNCATE or snapshot reset matters.
  auto restart = reader.Query(fmt::format(
      "SELECT _walden_lsn, _walden_seq, _walden_op FROM {} WHERE _walden_op IN ('t', 's') AND "
      "{} ORDER BY 1 DESC, 2 DESC LIMIT 1",
      source, where));
  if (!restart) return std::unexpected(restart.error());
  if (restart->rows() == 1) {
    auto emptied = restart->Text(0, 2) == "s" ? mirror.Reset(period.def)
                                              : mirror.Truncate(period.def.relation_id);
    if (!emptied) return emptied;
    where += fmt::format(" AND (_walden_lsn, _walden_seq) > ({}, {})",
                         restart->Text(0, 0).value_or("0"), restart->Text(0, 1).value_or("0"));
  }
  // A compacted topic's mirror holds keyed messages only, as streaming does (MirrorSink).
  if (period.def.compacted) {
    for (size_t k : period.def.KeyIndexes()) {
      where += fmt::format(" AND {} IS NOT NULL", QuoteIdent(period.def.columns[k].name));
    }
  }
  auto described = reader.Query("DESCRIBE SELECT * FROM " + source);
  if (!described) return std::unexpected(described.error());
  std::set<std::string> present;
  for (size_t row = 0; row < described->rows(); ++row) {
    present.insert(described->Text(row, 0).value_or(""));
  }
  return mirror.StageQuery(period.def.relation_id, StageSelect(period.def, present, source, where));
}

// A time as DuckDB reads it (TIMESTAMPTZ), in µs since 1970.
Result<int64_t> TimeMicros(duck::Connection& conn, const std::string& time) {
  auto value = conn.Query("SELECT epoch_us(CAST(" + QuoteLiteral(time) + " AS TIMESTAMPTZ))");
  if (!value) {
    return Fail(ErrorKind::kUsage, "\"" + time + "\" is not a time: " + value.error().message);
  }
  return duckdb_value_int64(value->get(), 0, 0);
}

void RemoveDatabase(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  fs::remove(path + ".wal", ec);
}

}  // namespace

Result<RebuildResult> RebuildMirror(store::ObjectStore& store, const std::string& mirror_path,
                                    const std::string& scratch_dir, const RebuildScope& scope) {
  archive::Manifest manifest(store);
  auto state = manifest.Load();
  if (!state) return std::unexpected(state.error());
  if (state->last_sequence == 0) {
    return Fail(ErrorKind::kNotFound, "the archive at " + store.url() +
                                          " has no commits; there is nothing to rebuild from");
  }
  // A damaged file would rebuild a wrong mirror without a word: every file is checked
  // against its commit before anything is replayed.
  const auto in_scope = [&](const QualifiedName& table) {
    return !scope.table || *scope.table == table;
  };
  std::string until;  // the scope's bound on archived rows, as SQL
  if (scope.until_lsn) until += fmt::format(" AND _walden_lsn <= {}", scope.until_lsn->value);
  if (scope.until_time) {
    until +=
        " AND _walden_commit_ts <= CAST(" + QuoteLiteral(*scope.until_time) + " AS TIMESTAMPTZ)";
  }
  auto periods = LoadPeriods(store, state->watermark.commit_lsn);
  if (!periods) return std::unexpected(periods.error());
  const std::string building = mirror_path + ".rebuild";
  RemoveDatabase(building);
  RebuildResult result{.watermark = state->watermark.commit_lsn};
  {
    auto mirror = mirror::Mirror::Open(
        building, {.memory_limit = scope.memory_limit, .threads = scope.threads});
    if (!mirror) return std::unexpected(mirror.error());
    auto reader = duck::Connection::Open((*mirror)->database());
    if (!reader) return std::unexpected(reader.error());
    std::optional<int64_t> until_micros;
    if (scope.until_time) {
      auto micros = TimeMicros(*reader, *scope.until_time);
      if (!micros) return std::unexpected(micros.error());
      until_micros = *micros;
    }
    const auto wanted = [&](const archive::SegmentFile& file) {
      return in_scope(file.table) && BeforePoint(file, scope, until_micros);
    };
    std::vector<std::string> scoped_files;
    for (const auto& [key, file] : state->live) {
      if (!wanted(file)) continue;
      auto path = store::LocalPath(store, key, scratch_dir + "/rebuild");
      if (!path) return std::unexpected(path.error());
      if (auto ok = archive::CheckFile(file, *path); !ok) return std::unexpected(ok.error());
      scoped_files.push_back(std::move(*path));
    }
    std::optional<Lsn> until_lsn = scope.until_lsn;
    if (scope.until_time && !until_lsn) {
      auto last = LastLsnAt(*reader, scoped_files, *scope.until_time);
      if (!last) return std::unexpected(last.error());
      until_lsn = *last;
    }
    std::set<uint32_t> tables;
    for (const Period& period : *periods) {
      if (!in_scope(period.def.name)) continue;
      if (until_lsn && period.first > *until_lsn) continue;
      auto files = PeriodFiles(store, *state, period, scratch_dir + "/rebuild", wanted);
      if (!files) return std::unexpected(files.error());
      if (auto ok = ReplayPeriod(**mirror, *reader, period, *files, until); !ok)
        return std::unexpected(ok.error());
      tables.insert(period.def.relation_id);
    }
    result.tables = static_cast<int64_t>(tables.size());
    result.changes = (*mirror)->pending_changes();
    if (auto ok = (*mirror)->Commit({state->watermark.commit_lsn, state->watermark.end_lsn, 0});
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  std::error_code ec;
  fs::remove_all(scratch_dir + "/rebuild", ec);
  RemoveDatabase(mirror_path);
  fs::rename(building, mirror_path, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot move the rebuilt mirror into place: " + ec.message());
  if (fs::exists(building + ".wal")) fs::rename(building + ".wal", mirror_path + ".wal", ec);
  return result;
}

query::AsOfRebuild AsOfRebuilder(const Config& config) {
  return [&config](const query::AsOf& as_of, const std::string& path) -> Status {
    auto store = store::OpenStore(config.archive);
    if (!store) return std::unexpected(store.error());
    RebuildScope scope{.table = as_of.table, .memory_limit = "256MB", .threads = 1};
    if (auto lsn = Lsn::Parse(as_of.at)) {
      scope.until_lsn = *lsn;
    } else {
      scope.until_time = as_of.at;
    }
    const std::string scratch = path + ".files";
    auto rebuilt = RebuildMirror(**store, path, scratch, scope);
    std::error_code ec;
    fs::remove_all(scratch, ec);
    if (!rebuilt) return std::unexpected(rebuilt.error());
    return {};
  };
}

}  // namespace walden::pipeline
