#include "query/history.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "archive/maintenance.h"
#include "archive/partial_read.h"
#include "common/strings.h"
#include "common/units.h"

namespace walden::query {
namespace {

using nlohmann::json;

constexpr std::string_view kTimeColumn = "_walden_commit_ts";
constexpr std::string_view kLsnColumn = "_walden_lsn";

// A string field of a parsed node ("" when absent or not a string: DuckDB uses some names,
// such as "type", for objects too).
std::string Str(const json& node, const char* field) {
  if (!node.is_object()) return "";
  auto it = node.find(field);
  return it != node.end() && it->is_string() ? it->get<std::string>() : "";
}

// A member of a parsed node, or null when it has none (never undefined behaviour).
const json& At(const json& node, const char* field) {
  static const json kNull;
  if (!node.is_object()) return kNull;
  auto it = node.find(field);
  return it != node.end() ? *it : kNull;
}

std::string Bytes(int64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

struct Reference {
  QualifiedName table;
  std::string alias;   // empty: none given (the table's own name qualifies it)
  bool alone = false;  // the only table of its FROM: unqualified columns are its own
};

// The history tables of a FROM clause (base tables and joins; subqueries are SELECT nodes
// of their own).
void CollectFrom(const json& from, std::vector<Reference>& out) {
  if (!from.is_object()) return;
  const std::string type = Str(from, "type");
  if (type == "BASE_TABLE" && Str(from, "catalog_name") == "history") {
    out.push_back({{Str(from, "schema_name"), Str(from, "table_name")}, Str(from, "alias")});
  } else if (type == "JOIN") {
    CollectFrom(At(from, "left"), out);
    CollectFrom(At(from, "right"), out);
  }
}

bool HasColumnRef(const json& node) {
  if (node.is_object()) {
    const std::string cls = Str(node, "class");
    if (cls == "COLUMN_REF" || cls == "SUBQUERY" || cls == "STAR" || cls == "PARAMETER") {
      return true;
    }
    for (const auto& [key, child] : node.items()) {
      if (HasColumnRef(child)) return true;
    }
  } else if (node.is_array()) {
    for (const json& child : node) {
      if (HasColumnRef(child)) return true;
    }
  }
  return false;
}

// The column a reference names, if it can be one of `ref`'s ("" otherwise).
std::string ColumnOf(const json& node, const Reference& ref) {
  if (!node.is_object() || Str(node, "class") != "COLUMN_REF") return {};
  const json& names = At(node, "column_names");
  if (!names.is_array() || names.empty() || !names.back().is_string()) return {};
  if (names.size() >= 2) {
    const json& qualifier = names[names.size() - 2];
    if (!qualifier.is_string() ||
        qualifier.get<std::string>() != (ref.alias.empty() ? ref.table.name : ref.alias)) {
      return {};
    }
  }
  return names.back().get<std::string>();
}

// Whether a comparison names `column` with a qualifier (which ColumnOf checked).
bool Qualified(const json& comparison, const std::string& column) {
  for (const char* side : {"left", "right"}) {
    const json& node = At(comparison, side);
    if (Str(node, "class") == "COLUMN_REF" && At(node, "column_names").size() >= 2 &&
        At(node, "column_names").back() == column) {
      return true;
    }
  }
  return false;
}

class Bounder {
 public:
  explicit Bounder(duck::Connection& conn) : conn_(conn) {}

  // The window the AND-conjuncts of `where` give `ref`.
  Window Of(const json& where, const Reference& ref) {
    Window window;
    Conjuncts(where, ref, window);
    return window;
  }

 private:
  void Conjuncts(const json& node, const Reference& ref, Window& window) {
    if (!node.is_object()) return;
    const std::string type = Str(node, "type");
    if (type == "CONJUNCTION_AND") {
      for (const json& child : At(node, "children")) Conjuncts(child, ref, window);
    } else if (type == "COMPARE_BETWEEN") {
      const std::string column = ColumnOf(At(node, "input"), ref);
      if (column != kTimeColumn && column != kLsnColumn) return;
      Apply(column, ">=", At(node, "lower"), window);
      Apply(column, "<=", At(node, "upper"), window);
    } else if (Str(node, "class") == "COMPARISON") {
      std::string op = type == "COMPARE_EQUAL"                  ? "="
                       : type == "COMPARE_GREATERTHAN"          ? ">="
                       : type == "COMPARE_GREATERTHANOREQUALTO" ? ">="
                       : type == "COMPARE_LESSTHAN"             ? "<="
                       : type == "COMPARE_LESSTHANOREQUALTO"    ? "<="
                                                                : "";
      if (op.empty()) return;
      std::string column = ColumnOf(At(node, "left"), ref);
      const json* value = &At(node, "right");
      if (column.empty()) {  // constant on the left: the comparison turns around
        column = ColumnOf(At(node, "right"), ref);
        value = &At(node, "left");
        if (op != "=") op = op == ">=" ? "<=" : ">=";
      }
      if (column.empty()) return;
      if (column == kTimeColumn || column == kLsnColumn) {
        Apply(column, op, *value, window);
      } else if (op == "=" && (ref.alone || Qualified(node, column))) {
        if (auto text = Evaluate(*value, "VARCHAR")) window.equals[column] = *text;
      }
    }
  }

  // Bounds `window` by `column op value` when DuckDB can evaluate `value` on its own.
  void Apply(std::string_view column, const std::string& op, const json& value, Window& window) {
    const bool time = column == kTimeColumn;
    const auto bound = Evaluate(value, time ? "TIMESTAMPTZ" : "UBIGINT");
    if (!bound) return;
    if (time) {
      const auto at = ParseInt64(*bound);
      if (!at) return;
      if (op != "<=") window.min_time = std::max(window.min_time, *at);
      if (op != ">=") window.max_time = std::min(window.max_time, *at);
    } else {
      const auto at = ParseUint64(*bound);
      if (!at) return;
      if (op != "<=") window.min_lsn = std::max(window.min_lsn, *at);
      if (op != ">=") window.max_lsn = std::min(window.max_lsn, *at);
    }
  }

  // `value` (an expression without columns) cast to `type` by DuckDB, as text; a time as
  // µs since 1970. nullopt when it is not constant or does not cast.
  std::optional<std::string> Evaluate(const json& value, std::string_view type) {
    if (HasColumnRef(value)) return std::nullopt;
    if (template_.is_null()) {
      auto one = conn_.Query("SELECT json_serialize_sql('SELECT 1')::VARCHAR");
      if (!one || one->rows() != 1) return std::nullopt;
      template_ = json::parse(one->Text(0, 0).value_or("{}"), nullptr, false);
    }
    if (!template_.is_object() || template_.value("error", true)) return std::nullopt;
    json statement = template_;
    statement["statements"][0]["node"]["select_list"][0] = value;
    auto text =
        conn_.Query("SELECT json_deserialize_sql(" + QuoteLiteral(statement.dump()) + "::JSON)");
    if (!text || text->rows() != 1 || !text->Text(0, 0)) return std::nullopt;
    std::string expr = *text->Text(0, 0);
    if (!expr.starts_with("SELECT ")) return std::nullopt;
    expr = expr.substr(7);
    const bool time = type == "TIMESTAMPTZ";
    // One prepared statement: the expression can be nothing but an expression.
    auto prepared = duck::PreparedStatement::Prepare(
        conn_,
        fmt::format("SELECT {}(CAST(({}) AS {}))::VARCHAR", time ? "epoch_us" : "", expr, type));
    if (!prepared) return std::nullopt;
    auto evaluated = prepared->Execute();
    if (!evaluated || evaluated->rows() != 1) return std::nullopt;
    return evaluated->Text(0, 0);
  }

  duck::Connection& conn_;
  json template_;  // `SELECT 1` as DuckDB serializes it
};

// Every SELECT node below `node`, with its own history references and their windows.
void Walk(const json& node, Bounder& bounder, HistoryReads& reads, int& attributed) {
  if (node.is_object()) {
    if (Str(node, "type") == "SELECT_NODE") {
      std::vector<Reference> refs;
      CollectFrom(At(node, "from_table"), refs);
      if (refs.size() == 1 && Str(At(node, "from_table"), "type") == "BASE_TABLE") {
        refs[0].alone = true;
      }
      for (const Reference& ref : refs) {
        reads[ref.table].push_back(bounder.Of(At(node, "where_clause"), ref));
        ++attributed;
      }
    }
    for (const auto& [key, child] : node.items()) Walk(child, bounder, reads, attributed);
  } else if (node.is_array()) {
    for (const json& child : node) Walk(child, bounder, reads, attributed);
  }
}

// Every reference to a history table anywhere in the statement.
void CountReferences(const json& node, HistoryReads& all, int& count) {
  if (node.is_object()) {
    if (Str(node, "type") == "BASE_TABLE" && Str(node, "catalog_name") == "history") {
      all[{Str(node, "schema_name"), Str(node, "table_name")}];
      ++count;
    }
    for (const auto& [key, child] : node.items()) CountReferences(child, all, count);
  } else if (node.is_array()) {
    for (const json& child : node) CountReferences(child, all, count);
  }
}

}  // namespace

bool Window::Bounded() const {
  return !equals.empty() || min_time != std::numeric_limits<int64_t>::min() ||
         max_time != std::numeric_limits<int64_t>::max() || min_lsn != 0 ||
         max_lsn != std::numeric_limits<uint64_t>::max();
}

namespace {

// Whether integers from `min` to `max` may hold `value` (text that is no integer may be
// anywhere: the file is read).
bool IntegerRangeMayHold(const std::string& value, const std::string& min, const std::string& max) {
  const auto v = ParseInt64(value), lo = ParseInt64(min), hi = ParseInt64(max);
  return !v || !lo || !hi || (*lo <= *v && *v <= *hi);
}

}  // namespace

bool Window::Overlaps(const archive::SegmentFile& file) const {
  if (file.max_commit_time < min_time || file.min_commit_time > max_time ||
      file.last_lsn < min_lsn || file.first_lsn > max_lsn) {
    return false;
  }
  if (!file.key_range) return true;
  auto it = equals.find(file.key_range->column);
  if (it == equals.end()) return true;
  const archive::KeyRange& range = *file.key_range;
  if (!range.numeric) return range.min <= it->second && it->second <= range.max;
  return IntegerRangeMayHold(it->second, range.min, range.max);
}

bool Window::Overlaps(const archive::SegmentFile& file, const archive::RowGroupPart& group) const {
  if (group.max_commit_time < min_time || group.min_commit_time > max_time ||
      group.max_lsn < min_lsn || group.min_lsn > max_lsn) {
    return false;
  }
  if (!file.key_range || group.key_min.empty()) return true;
  auto it = equals.find(file.key_range->column);
  return it == equals.end() || IntegerRangeMayHold(it->second, group.key_min, group.key_max);
}

namespace {

// The row groups of `file` any of `windows` overlaps; nullopt: read the whole file.
std::optional<std::vector<size_t>> RowGroupsToRead(const archive::SegmentFile& file,
                                                   const std::vector<Window>& windows) {
  if (file.row_groups.empty() || file.footer_sha256.empty()) return std::nullopt;
  std::vector<size_t> groups;
  for (size_t g = 0; g < file.row_groups.size(); ++g) {
    for (const Window& window : windows) {
      if (window.Overlaps(file, file.row_groups[g])) {
        groups.push_back(g);
        break;
      }
    }
  }
  if (groups.size() == file.row_groups.size()) return std::nullopt;
  return groups;
}

}  // namespace

Result<HistoryReads> FindHistoryReads(duck::Connection& conn, std::string_view sql) {
  auto serialized =
      conn.Query("SELECT json_serialize_sql(" + QuoteLiteral(std::string(sql)) + ")::VARCHAR");
  if (!serialized) return std::unexpected(serialized.error());
  const json parsed =
      json::parse(serialized->Text(0, 0).value_or("{}"), nullptr, /*allow_exceptions=*/false);
  HistoryReads reads;
  if (!parsed.is_object() || parsed.value("error", true)) {
    // Not a SELECT (DESCRIBE, SHOW, SUMMARIZE): a mention of history reads it all.
    if (AsciiLower(sql).find("history") != std::string_view::npos) {
      reads[{"*", "*"}].push_back(Window{});
    }
    return reads;
  }
  Bounder bounder(conn);
  int attributed = 0, references = 0;
  Walk(At(parsed, "statements"), bounder, reads, attributed);
  HistoryReads all;
  CountReferences(At(parsed, "statements"), all, references);
  if (references != attributed) {
    // A reference outside any FROM clause the walk knows: read unbounded.
    for (auto& [table, windows] : all) reads[table].push_back(Window{});
  }
  return reads;
}

HistoryPlan PlanHistory(const archive::ArchiveState& state, const HistoryReads& reads, bool remote,
                        const Rates& rates, bool whole_files) {
  HistoryPlan plan;
  const bool everything = reads.contains({"*", "*"});
  std::map<QualifiedName, HistoryPlan::Table> tables;
  for (const auto& [key, file] : state.live) {
    auto read = reads.find(file.table);
    if (!everything && read == reads.end()) continue;
    HistoryPlan::Table& table = tables[file.table];
    table.name = file.table;
    ++table.all_files;
    bool needed = everything;
    if (!needed) {
      for (const Window& window : read->second) {
        if (!window.Bounded()) table.unbounded = true;
        needed = needed || window.Overlaps(file);
      }
    } else {
      table.unbounded = true;
    }
    if (!needed) continue;
    table.files.push_back(&file);
    table.row_groups.push_back(
        remote && !everything && !whole_files ? RowGroupsToRead(file, read->second) : std::nullopt);
  }
  for (auto& [name, table] : tables) {
    for (size_t i = 0; i < table.files.size(); ++i) {
      const archive::SegmentFile& file = *table.files[i];
      ++plan.files;
      if (!table.row_groups[i]) {
        plan.bytes += file.bytes;
        ++plan.requests;
        continue;
      }
      for (const archive::ByteRange& range : archive::RangesFor(file, *table.row_groups[i])) {
        plan.bytes += range.length;
        ++plan.requests;
      }
      plan.row_groups += static_cast<int64_t>(table.row_groups[i]->size());
      plan.all_row_groups += static_cast<int64_t>(file.row_groups.size());
    }
    plan.unbounded = plan.unbounded || table.unbounded;
    plan.tables.push_back(std::move(table));
  }
  if (remote) {
    plan.price = static_cast<double>(plan.requests) / 1000.0 * rates.per_1000_requests +
                 static_cast<double>(plan.bytes) / 1e9 * rates.per_gb;
  } else {
    plan.requests = 0;
  }
  return plan;
}

std::string HistoryPlan::Preview() const {
  int64_t all = 0;
  std::string detail;
  for (const Table& table : tables) {
    all += table.all_files;
    detail += fmt::format("{}{}: {} of {} files{}", detail.empty() ? "" : "; ",
                          table.name.Display(), table.files.size(), table.all_files,
                          table.unbounded ? ", no time or LSN bound" : "");
  }
  const std::string groups =
      all_row_groups == 0
          ? ""
          : fmt::format(" ({} of their {} row groups by ranged reads)", row_groups, all_row_groups);
  return fmt::format("history: {} of {} files{}, {}, {} GET requests, ~${:.4f} ({})", files, all,
                     groups, Bytes(bytes), requests, price, detail.empty() ? "no files" : detail);
}

namespace {

// A local path of `file` for DuckDB, checked against the manifest: the file itself in a
// local archive, else a copy of it whole or of only `row_groups` (ranged reads).
Result<std::string> FetchFile(store::ObjectStore& store, const archive::SegmentFile& file,
                              const std::optional<std::vector<size_t>>& row_groups,
                              const std::string& cache_dir) {
  if (row_groups) return archive::FetchRowGroups(store, file, *row_groups, cache_dir);
  for (int attempt = 1;; ++attempt) {
    auto path = store::LocalPath(store, file.key, cache_dir);
    if (!path) return path;
    // A damaged file would answer with wrong rows: size and checksum first, every time.
    auto intact = archive::CheckFile(file, *path);
    if (intact) return path;
    if (store::IsLocal(store)) return std::unexpected(intact.error());
    // A local copy that changed is fetched once more before the archive is blamed; one
    // that fails is not kept.
    std::error_code ec;
    std::filesystem::remove(*path, ec);
    if (attempt == 2) return std::unexpected(intact.error());
  }
}

}  // namespace

Result<PreparedHistory> PrepareHistory(duck::Connection& planner, store::ObjectStore& store,
                                       const archive::ArchiveState& state, std::string_view sql,
                                       const HistoryOptions& options) {
  auto reads = FindHistoryReads(planner, sql);
  if (!reads) return std::unexpected(reads.error());
  if (reads->empty()) return PreparedHistory{};
  const bool remote = !store::IsLocal(store);
  const HistoryPlan plan = PlanHistory(state, *reads, remote, options.rates);
  PreparedHistory prepared{.preview = plan.Preview()};
  if (options.dry_run) return prepared;
  if (plan.unbounded && !options.allow_full_scan) {
    return Fail(ErrorKind::kUsage,
                prepared.preview +
                    "\nrefused: a history table is read without a time or LSN bound; add WHERE "
                    "_walden_commit_ts >= … (or _walden_lsn), or allow the full scan with "
                    "--allow-full-scan (HTTP: allow_full_scan=true)");
  }
  for (const HistoryPlan::Table& table : plan.tables) {
    HistoryTable out{.name = table.name};
    // A table none of whose files the window touches still needs its columns: one file
    // (its rows are outside the window, so the query's own bound filters them out; a
    // remote one is fetched without row groups, its footer alone).
    std::vector<const archive::SegmentFile*> files = table.files;
    std::vector<std::optional<std::vector<size_t>>> row_groups = table.row_groups;
    if (files.empty()) {
      for (const auto& [key, file] : state.live) {
        if (file.table == table.name) {
          files.push_back(&file);
          const bool ranged = !file.row_groups.empty() && !file.footer_sha256.empty();
          row_groups.push_back(ranged ? std::optional(std::vector<size_t>{}) : std::nullopt);
          break;
        }
      }
    }
    for (size_t i = 0; i < files.size(); ++i) {
      auto path =
          FetchFile(store, *files[i], remote ? row_groups[i] : std::nullopt, options.cache_dir);
      if (!path) return std::unexpected(path.error());
      out.files.push_back(std::move(*path));
    }
    if (!out.files.empty()) prepared.tables.push_back(std::move(out));
  }
  if (remote) {
    auto trimmed = store::TrimCache(options.cache_dir, options.cache_limit, options.cache_spare);
    if (trimmed && *trimmed > 0) {
      spdlog::info(
          "query: removed {} of least recently used archive copies from {} "
          "(query.cache_size {})",
          FormatSize(*trimmed), options.cache_dir, FormatSize(options.cache_limit));
    }
  }
  return prepared;
}

namespace {

void CollectAsOf(const json& node, std::vector<AsOf>& out, std::string& bad) {
  if (node.is_object()) {
    if (Str(node, "type") == "TABLE_FUNCTION" &&
        Str(At(node, "function"), "function_name") == "walden_as_of") {
      std::vector<std::string> args;
      const json& children = At(At(node, "function"), "children");
      for (const json& child : children.is_array() ? children : json::array()) {
        if (Str(child, "class") != "CONSTANT" || At(At(child, "value"), "is_null") == true) break;
        args.push_back(At(At(child, "value"), "value").is_string()
                           ? At(At(child, "value"), "value").get<std::string>()
                           : At(At(child, "value"), "value").dump());
      }
      auto selector = args.size() == 2 ? ParseTableSelector(args[0])
                                       : Result<TableSelector>(std::unexpected(Error{}));
      if (!selector || !selector->table) {
        bad =
            "walden_as_of takes two constants: a table and a commit time or LSN, e.g. "
            "walden_as_of('public.orders', '2026-12-01 09:00:00+00')";
      } else {
        out.push_back({{selector->schema, *selector->table}, args[1]});
      }
    }
    for (const auto& [key, child] : node.items()) CollectAsOf(child, out, bad);
  } else if (node.is_array()) {
    for (const json& child : node) CollectAsOf(child, out, bad);
  }
}

}  // namespace

Result<std::string> AsOfPreview(duck::Connection& planner, store::ObjectStore& store,
                                const archive::ArchiveState& state, const AsOf& as_of,
                                const Rates& rates) {
  Window window;
  if (auto lsn = Lsn::Parse(as_of.at)) {
    window.max_lsn = lsn->value;
  } else {
    auto micros =
        planner.Query("SELECT epoch_us(CAST(" + QuoteLiteral(as_of.at) + " AS TIMESTAMPTZ))");
    if (!micros) {
      return Fail(ErrorKind::kUsage,
                  "walden_as_of: \"" + as_of.at +
                      "\" is neither a time nor an LSN: " + micros.error().message);
    }
    window.max_time = duckdb_value_int64(micros->get(), 0, 0);
  }
  const HistoryPlan plan =
      PlanHistory(state, {{as_of.table, {window}}}, !store::IsLocal(store), rates,
                  /*whole_files=*/true);  // the rebuild replays whole files
  return fmt::format("as of {}: {}", as_of.at, plan.Preview());
}

Result<std::optional<AsOf>> FindAsOf(duck::Connection& conn, std::string_view sql) {
  if (sql.find("walden_as_of") == std::string_view::npos) return std::nullopt;  // cheap exit
  auto parsed = conn.Query("SELECT json_serialize_sql(" + QuoteLiteral(sql) + ")");
  if (!parsed) return std::unexpected(parsed.error());
  const json tree = json::parse(parsed->Text(0, 0).value_or("{}"), nullptr, false);
  std::vector<AsOf> found;
  std::string bad;
  CollectAsOf(tree, found, bad);
  if (!bad.empty()) return Fail(ErrorKind::kUsage, bad);
  if (found.empty()) return std::nullopt;
  for (const AsOf& other : found) {
    if (other.table != found.front().table || other.at != found.front().at) {
      return Fail(ErrorKind::kUsage,
                  "one walden_as_of(table, point) per query: one table at one point");
    }
  }
  return found.front();
}

void ArchiveSnapshot::Publish(archive::ArchiveState state) {
  auto shared = std::make_shared<const archive::ArchiveState>(std::move(state));
  std::lock_guard lock(mutex_);
  state_ = std::move(shared);
}

std::shared_ptr<const archive::ArchiveState> ArchiveSnapshot::Current() const {
  std::lock_guard lock(mutex_);
  return state_;
}

Result<Answer> RunWithHistory(duck::Database& database, store::ObjectStore& store,
                              const archive::ArchiveState& state, const std::string& sql,
                              OutputFormat format, const HistoryOptions& history,
                              QueryOptions options) {
  auto planner = duck::Connection::Open(database);
  if (!planner) return std::unexpected(planner.error());
  auto prepared = PrepareHistory(*planner, store, state, sql, history);
  if (!prepared) return std::unexpected(prepared.error());
  auto as_of = FindAsOf(*planner, sql);
  if (!as_of) return std::unexpected(as_of.error());
  if (*as_of) {  // what the rebuild reads: the table's files up to the point
    auto preview = AsOfPreview(*planner, store, state, **as_of, history.rates);
    if (!preview) return std::unexpected(preview.error());
    prepared->preview += (prepared->preview.empty() ? "" : "\n") + *preview;
  }
  if (history.dry_run) {
    return Answer{
        .output = (prepared->preview.empty() ? "reads no history" : prepared->preview) + "\n",
        .preview = prepared->preview};
  }
  options.history = std::move(prepared->tables);
  struct Remove {
    std::string path;
    ~Remove() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove(path, ec);
      if (!path.empty()) std::filesystem::remove(path + ".wal", ec);
    }
  } rebuilt;
  if (*as_of) {
    if (!history.rebuild_as_of) {
      return Fail(ErrorKind::kUsage, "walden_as_of is not available here");
    }
    static std::atomic<int> next{0};
    std::error_code ec;
    std::filesystem::create_directories(history.cache_dir, ec);
    rebuilt.path = fmt::format("{}/as-of-{}-{}.duckdb", history.cache_dir, getpid(), ++next);
    if (auto ok = history.rebuild_as_of(**as_of, rebuilt.path); !ok) {
      return std::unexpected(ok.error());
    }
    options.as_of = AsOfTable{.path = rebuilt.path, .table = (*as_of)->table};
  }
  auto output = RunQuery(database, sql, format, options);
  if (!output) return std::unexpected(output.error());
  return Answer{.output = std::move(*output), .preview = std::move(prepared->preview)};
}

}  // namespace walden::query
