// Set-based merges of a stage table into its mirror table (design §4).
#include "mirror/merge.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <functional>

namespace walden::mirror::internal {
namespace {

std::string Col(size_t i) { return "c" + std::to_string(i); }
std::string Before(size_t i) { return "b" + std::to_string(i); }

// "s.c0, s.c1, ..." and the matching target column list.
std::string StageColumns(const change::TableDef& def, const std::string& alias) {
  std::string out;
  for (size_t i = 0; i < def.columns.size(); ++i) {
    out += (i ? ", " : "") + alias + "." + Col(i);
  }
  return out;
}
std::string TargetColumns(const change::TableDef& def) {
  std::string out;
  for (size_t i = 0; i < def.columns.size(); ++i) {
    out += (i ? ", " : "") + QuoteIdent(def.columns[i].name);
  }
  return out;
}

// For each unchanged column: the value from `source` (an alias with the same layout or the
// mirror table), else the stage's own value.
std::string FillFrom(const change::TableDef& def, const std::string& stage,
                     const std::function<std::string(size_t)>& source) {
  std::string out;
  for (size_t i = 0; i < def.columns.size(); ++i) {
    out += fmt::format("{}{} = CASE WHEN substr({}._unch, {}, 1) = '1' THEN {} ELSE {}.{} END",
                       i ? ", " : "", Col(i), stage, i + 1, source(i), stage, Col(i));
  }
  return out + ", _unch = NULL";
}

// Every change's key before (role 0) and after (role 1), for the key columns `keys`.
std::string KeyEvents(const StageRef& stage, const std::vector<size_t>& keys,
                      const std::string& before_filter) {
  std::string before, after;
  for (size_t k = 0; k < keys.size(); ++k) {
    before += fmt::format("{}{} AS k{}", k ? ", " : "", Before(k), k);
    after += fmt::format("{}{} AS k{}", k ? ", " : "", Col(keys[k]), k);
  }
  return fmt::format(
      "SELECT {}, _lsn, _seq, 0 AS role, _rid FROM {} WHERE {} "
      "UNION ALL SELECT {}, _lsn, _seq, 1 AS role, _rid FROM {} WHERE _op IN ('c', 'u', 'r')",
      before, stage.table, before_filter, after, stage.table);
}

std::string KeyList(size_t count, const std::string& prefix = "") {
  std::string out;
  for (size_t k = 0; k < count; ++k) out += fmt::format("{}{}k{}", k ? ", " : "", prefix, k);
  return out;
}

// Unchanged TOAST values of keyed tables: taken from the change that produced the row
// before (same key, earlier in the stage), else from the mirror's current row.
Result<int64_t> ResolveUnchanged(duck::Connection& conn, const StageRef& stage) {
  const change::TableDef& def = *stage.def;
  const std::vector<size_t> keys = def.KeyIndexes();
  const std::string& s = stage.table;
  std::string sql = fmt::format(
      "UPDATE {s} SET _prev = p.prev FROM (SELECT _rid, role, last_value(CASE WHEN role = 1 "
      "THEN _rid END IGNORE NULLS) OVER (PARTITION BY {k} ORDER BY _lsn, _seq, role ROWS "
      "BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev FROM ({events})) p "
      "WHERE p.role = 0 AND {s}._rid = p._rid",
      fmt::arg("s", s), fmt::arg("k", KeyList(keys.size())),
      fmt::arg("events", KeyEvents(stage, keys, "_unch IS NOT NULL")));
  if (auto ok = conn.Execute(sql); !ok) return std::unexpected(ok.error());
  std::string match;
  for (size_t k = 0; k < keys.size(); ++k) {
    match += fmt::format(" AND t.{} = {}.{}", QuoteIdent(def.columns[keys[k]].name), s, Before(k));
  }
  sql = fmt::format(
      "UPDATE {} SET {} FROM {} AS t WHERE {}._prev IS NULL AND {}._unch IS NOT NULL{}", s,
      FillFrom(def, s, [&](size_t i) { return "t." + QuoteIdent(def.columns[i].name); }),
      def.Physical().ToSql(), s, s, match);
  if (auto ok = conn.Execute(sql); !ok) return std::unexpected(ok.error());
  auto unresolved = QueryCount(
      conn, fmt::format("SELECT count(*) FROM {} WHERE _prev IS NULL AND _unch IS NOT NULL", s));
  if (!unresolved) return unresolved;
  // Chains of updates to one key resolve one link per pass.
  const std::string pass = fmt::format(
      "UPDATE {s} SET {set} FROM {s} AS p WHERE {s}._prev = p._rid AND {s}._unch IS NOT NULL "
      "AND p._unch IS NULL",
      fmt::arg("s", s), fmt::arg("set", FillFrom(def, s, [](size_t i) { return "p." + Col(i); })));
  for (;;) {
    auto left = QueryCount(conn, fmt::format("SELECT count(*) FROM {} WHERE _unch IS NOT NULL "
                                             "AND _prev IS NOT NULL",
                                             s));
    if (!left) return left;
    if (*left == 0) break;
    auto before = *left;
    if (auto ok = conn.Execute(pass); !ok) return std::unexpected(ok.error());
    left = QueryCount(conn, fmt::format("SELECT count(*) FROM {} WHERE _unch IS NOT NULL "
                                        "AND _prev IS NOT NULL",
                                        s));
    if (!left) return left;
    if (*left == before) break;  // unreachable: every chain starts at a resolved change
  }
  if (auto ok = conn.Execute("UPDATE " + s + " SET _unch = NULL WHERE _unch IS NOT NULL"); !ok) {
    return std::unexpected(ok.error());
  }
  return *unresolved;
}

// One part (hash of the key modulo stage.parts) of a keyed merge.
Status MergeKeyedPart(duck::Connection& conn, const StageRef& stage, int part) {
  const change::TableDef& def = *stage.def;
  const std::vector<size_t> keys = def.KeyIndexes();
  // The last change that mentions a key decides: present with that change's row, or gone.
  // Stage rows are numbered (_rid) in commit and sequence order, and a change's new key
  // (role 1) comes after its old one (role 0): the last event of a key is its greatest
  // 2·_rid + role. For the batches of the merge cadence a grouped max (~4 ms per table)
  // instead of a window (~11 ms, three quarters of a merge at 2,000 transactions/s); a
  // window for large stages (a big transaction, a catch-up), where DuckDB's sort spills
  // within the mirror's memory limit and a hash table of millions of keys did not.
  constexpr int64_t kGroupedRows = 100000;
  const std::string key_list = KeyList(keys.size());
  std::string events = KeyEvents(stage, keys, "_op IN ('u', 'd')");
  if (stage.parts > 1) {
    events = fmt::format("SELECT * FROM ({}) WHERE hash({}) % {} = {}", events, key_list,
                         stage.parts, part);
  }
  const std::string final_sql =
      stage.rows / stage.parts <= kGroupedRows
          ? fmt::format(
                "SELECT {k}, last // 2 AS _rid, last % 2 AS role FROM (SELECT {k}, "
                "max(_rid * 2 + role) AS last FROM ({events}) GROUP BY {k})",
                fmt::arg("events", events), fmt::arg("k", key_list))
          : fmt::format(
                "SELECT {k}, _rid, role FROM ({events}) QUALIFY row_number() OVER (PARTITION "
                "BY {k} ORDER BY _rid DESC, role DESC) = 1",
                fmt::arg("events", events), fmt::arg("k", key_list));
  // One table for the whole merge; parts compute it twice instead: a table per part would
  // keep a block per column until the transaction ends (64 parts of 1,000 changes took 64 MB).
  const bool table = stage.parts == 1;
  if (table) {
    if (auto ok = conn.Execute("CREATE OR REPLACE TEMP TABLE walden_final AS " + final_sql); !ok) {
      return ok;
    }
  }
  const std::string final_rows = table ? "walden_final" : "(" + final_sql + ")";
  std::string match;
  for (size_t k = 0; k < keys.size(); ++k) {
    match +=
        fmt::format("{}t.{} = f.k{}", k ? " AND " : "", QuoteIdent(def.columns[keys[k]].name), k);
  }
  std::string sql = fmt::format("DELETE FROM {} AS t USING {} AS f WHERE {}",
                                def.Physical().ToSql(), final_rows, match);
  if (auto ok = conn.Execute(sql); !ok) return ok;
  sql = fmt::format(
      "INSERT INTO {} ({}) SELECT {} FROM {} AS s JOIN {} AS f ON s._rid = f._rid "
      "WHERE f.role = 1",
      def.Physical().ToSql(), TargetColumns(def), StageColumns(def, "s"), stage.table, final_rows);
  if (auto ok = conn.Execute(sql); !ok) return ok;
  return table ? conn.Execute("DROP TABLE walden_final") : Status{};
}

}  // namespace

Result<MergeCounts> MergeKeyed(duck::Connection& conn, const StageRef& stage) {
  MergeCounts counts;
  if (stage.has_unchanged) {
    auto unresolved = ResolveUnchanged(conn, stage);
    if (!unresolved) return std::unexpected(unresolved.error());
    counts.unresolved = *unresolved;
  }
  // Every event of a key falls in the same part: the parts merge independently.
  for (int part = 0; part < stage.parts; ++part) {
    if (auto ok = MergeKeyedPart(conn, stage, part); !ok) return std::unexpected(ok.error());
  }
  return counts;
}

Result<MergeCounts> MergeAppendOnly(duck::Connection& conn, const StageRef& stage) {
  const change::TableDef& def = *stage.def;
  MergeCounts counts;
  auto other =
      QueryCount(conn, "SELECT count(*) FROM " + stage.table + " WHERE _op NOT IN ('c', 'r')");
  if (!other) return std::unexpected(other.error());
  counts.unmatched = *other;
  const std::string sql = fmt::format(
      "INSERT INTO {} ({}) SELECT {} FROM {} AS s WHERE _op IN ('c', 'r') ORDER BY _rid",
      def.Physical().ToSql(), TargetColumns(def), StageColumns(def, "s"), stage.table);
  if (auto ok = conn.Execute(sql); !ok) return std::unexpected(ok.error());
  return counts;
}

Result<MergeCounts> MergeFullRow(duck::Connection& conn, const StageRef& stage) {
  const change::TableDef& def = *stage.def;
  MergeCounts counts;
  auto ops = conn.Query("SELECT _rid, _op FROM " + stage.table + " ORDER BY _rid");
  if (!ops) return std::unexpected(ops.error());
  std::string match;
  for (size_t i = 0; i < def.columns.size(); ++i) {
    match += fmt::format(" AND t.{} IS NOT DISTINCT FROM s.{}", QuoteIdent(def.columns[i].name),
                         Before(i));
  }
  std::string filled;  // unchanged TOAST values come from the old row
  for (size_t i = 0; i < def.columns.size(); ++i) {
    filled += fmt::format("{}CASE WHEN substr(s._unch, {}, 1) = '1' THEN s.{} ELSE s.{} END",
                          i ? ", " : "", i + 1, Before(i), Col(i));
  }
  const std::string insert_range = fmt::format(
      "INSERT INTO {} ({}) SELECT {} FROM {} AS s WHERE s._rid BETWEEN {{}} AND {{}} ORDER BY "
      "s._rid",
      def.Physical().ToSql(), TargetColumns(def), filled, stage.table);
  const size_t rows = ops->rows();
  size_t i = 0;
  while (i < rows) {
    const int64_t rid = duckdb_value_int64(ops->get(), 0, i);
    const std::string op = ops->Text(i, 1).value_or("");
    if (op == "c" || op == "r") {
      size_t j = i;
      while (j + 1 < rows && (ops->Text(j + 1, 1) == "c" || ops->Text(j + 1, 1) == "r")) ++j;
      const int64_t last = duckdb_value_int64(ops->get(), 0, j);
      if (auto ok = conn.Execute(fmt::format(fmt::runtime(insert_range), rid, last)); !ok) {
        return std::unexpected(ok.error());
      }
      i = j + 1;
      continue;
    }
    // One row of possibly several identical ones: exactly one is touched.
    auto deleted = QueryCount(
        conn, fmt::format("DELETE FROM {} WHERE rowid = (SELECT t.rowid FROM {} AS t, {} AS s "
                          "WHERE s._rid = {}{} LIMIT 1)",
                          def.Physical().ToSql(), def.Physical().ToSql(), stage.table, rid, match));
    if (!deleted) return std::unexpected(deleted.error());
    if (*deleted == 0) ++counts.unmatched;
    if (op == "u") {  // an update of a row the mirror lacks still leaves the new row

      if (auto ok = conn.Execute(fmt::format(fmt::runtime(insert_range), rid, rid)); !ok) {
        return std::unexpected(ok.error());
      }
    }
    ++i;
  }
  return counts;
}

}  // namespace walden::mirror::internal
