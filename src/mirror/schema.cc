// Mirror tables: creation and in-place schema evolution (design §4).
#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "common/strings.h"
#include "duck/appender.h"
#include "mirror/merge.h"

namespace walden::mirror::internal {
namespace {

std::string TypeText(const change::ColumnDef& column) {
  return column.typmod >= 0
             ? fmt::format("{} (modifier {})", column.type.DuckDbName(), column.typmod)
             : column.type.DuckDbName();
}

constexpr uint32_t kInt2 = 21, kInt4 = 23, kInt8 = 20, kFloat4 = 700, kFloat8 = 701, kText = 25,
                   kVarchar = 1043, kNumeric = 1700;

int IntRank(uint32_t oid) { return oid == kInt2 ? 1 : oid == kInt4 ? 2 : oid == kInt8 ? 3 : 0; }

// numeric's typmod: ((precision << 16) | scale) + 4; -1 unconstrained.
std::pair<int, int> NumericPrecisionScale(int32_t typmod) {
  if (typmod < 4) return {-1, -1};
  return {((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff};
}

// A type change PostgreSQL makes without changing any value's meaning or text, so the
// mirror can follow with a cast in place.
bool IsWidening(const change::ColumnDef& from, const change::ColumnDef& to) {
  const uint32_t a = from.type.pg_oid, b = to.type.pg_oid;
  if (IntRank(a) && IntRank(b)) return IntRank(b) >= IntRank(a);
  if (a == kFloat4 && b == kFloat8) return true;
  const auto is_text = [](uint32_t oid) { return oid == kText || oid == kVarchar; };
  if (is_text(a) && is_text(b)) return true;
  if (a == kNumeric && b == kNumeric) {
    if (to.typmod < 0) return true;
    auto [p1, s1] = NumericPrecisionScale(from.typmod);
    auto [p2, s2] = NumericPrecisionScale(to.typmod);
    return p1 >= 0 && s1 == s2 && p2 >= p1;
  }
  return false;
}

// Which column of `to` continues column `from` (same attribute number, else same name).
std::optional<size_t> Successor(const change::ColumnDef& from, const change::TableDef& to) {
  for (size_t i = 0; i < to.columns.size(); ++i) {
    const change::ColumnDef& c = to.columns[i];
    if (from.attnum > 0 && c.attnum > 0 ? c.attnum == from.attnum : c.name == from.name) return i;
  }
  return std::nullopt;
}

// The stored defaults of the added columns `indexes` of `def` as the one row of temporary
// table walden_default (v<index> each): the appender writes any type exactly, where SQL
// literals would need a text form per type.
Status StoreDefaults(duck::Connection& conn, const change::TableDef& def,
                     const std::vector<size_t>& indexes) {
  std::string columns;
  std::vector<ColumnType> types;
  std::vector<Datum> values;
  for (size_t j : indexes) {
    columns +=
        fmt::format("{}v{} {}", columns.empty() ? "" : ", ", j, def.columns[j].type.DuckDbName());
    types.push_back(def.columns[j].type);
    values.push_back(*def.columns[j].missing);
  }
  if (auto ok = conn.Execute("CREATE OR REPLACE TEMP TABLE walden_default (" + columns + ")");
      !ok) {
    return ok;
  }
  auto appender = duck::Appender::Open(conn, "main", "walden_default", "temp");
  if (!appender) return std::unexpected(appender.error());
  if (auto ok = appender->AppendRow(types, values); !ok) return ok;
  return appender->Flush();
}

}  // namespace

Result<int64_t> QueryCount(duck::Connection& conn, const std::string& sql) {
  auto result = conn.Query(sql);
  if (!result) return std::unexpected(result.error());
  if (result->rows() == 0 || result->IsNull(0, 0)) return 0;
  return duckdb_value_int64(result->get(), 0, 0);
}

std::string UnsupportedReason(const change::TableDef& def) {
  const std::string schema = AsciiLower(def.name.schema);
  if (schema == "walden" || schema == "temp" || schema == "information_schema" ||
      schema == "pg_catalog") {
    return fmt::format(
        "schema name \"{}\" is reserved in the mirror; move the table to another "
        "schema or leave it out of source.tables",
        def.name.schema);
  }
  std::set<std::string> seen;
  for (const change::ColumnDef& column : def.columns) {
    if (!seen.insert(AsciiLower(column.name)).second) {
      return fmt::format(
          "columns named \"{}\" differ only in case, and DuckDB names ignore "
          "case; rename one of them in PostgreSQL",
          column.name);
    }
  }
  return {};
}

Status CreateTable(duck::Connection& conn, const change::TableDef& def) {
  std::string columns;
  for (const change::ColumnDef& column : def.columns) {
    if (!columns.empty()) columns += ", ";
    columns += QuoteIdent(column.name) + " " + column.type.DuckDbName();
  }
  const QualifiedName physical = def.Physical();
  if (auto ok = conn.Execute("CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(physical.schema)); !ok) {
    return ok;
  }
  return conn.Execute(fmt::format("CREATE TABLE {} ({})", physical.ToSql(), columns));
}

Result<std::string> AlterTable(duck::Connection& conn, const change::TableDef& from,
                               const change::TableDef& to) {
  // Decide first, act after: a table either follows completely or not at all.
  std::vector<std::pair<size_t, size_t>> kept;  // (from, to)
  std::vector<size_t> dropped;
  std::vector<bool> continued(to.columns.size(), false);
  for (size_t i = 0; i < from.columns.size(); ++i) {
    auto j = Successor(from.columns[i], to);
    if (!j || continued[*j]) {
      dropped.push_back(i);
      continue;
    }
    continued[*j] = true;
    kept.emplace_back(i, *j);
    const change::ColumnDef& a = from.columns[i];
    const change::ColumnDef& b = to.columns[*j];
    const bool same_type =
        a.type == b.type && a.type.pg_oid == b.type.pg_oid && a.typmod == b.typmod;
    if (!same_type && !IsWidening(a, b)) {
      return fmt::format(
          "column {} changed type from {} to {}, which rewrote the table in "
          "PostgreSQL",
          QuoteIdent(b.name), TypeText(a), TypeText(b));
    }
  }
  // Without attribute numbers a dropped and an added column may be one renamed column.
  const bool added_any = std::ranges::find(continued, false) != continued.end();
  for (size_t i : dropped) {
    if (from.columns[i].attnum == 0 && added_any) {
      return fmt::format(
          "column {} disappeared while another was added, and the catalog no "
          "longer tells whether it was renamed or dropped",
          QuoteIdent(from.columns[i].name));
    }
  }
  auto rows = QueryCount(conn, "SELECT count(*) FROM " + from.Physical().ToSql());
  if (!rows) return std::unexpected(rows.error());
  for (size_t j = 0; j < to.columns.size(); ++j) {
    const change::ColumnDef& b = to.columns[j];
    if (!continued[j] && !b.missing && b.has_default && *rows > 0) {
      return fmt::format(
          "column {} was added with a default PostgreSQL did not store (a volatile "
          "default, which rewrote the table, or a later rewrite cleared it)",
          QuoteIdent(b.name));
    }
  }
  // DuckDB cannot commit an ALTER TABLE of a table whose rows the same transaction changed
  // (and the merge before this step may have), so the table is rebuilt under the new
  // definition instead: one copy, and a schema change is rare.
  std::vector<std::string> select;
  std::vector<size_t> source(to.columns.size(), SIZE_MAX);
  for (auto [i, j] : kept) source[j] = i;
  std::vector<size_t> defaults;
  for (size_t j = 0; j < to.columns.size(); ++j) {
    const change::ColumnDef& b = to.columns[j];
    std::string value;
    if (source[j] != SIZE_MAX) {
      value = fmt::format("CAST({} AS {})", QuoteIdent(from.columns[source[j]].name),
                          b.type.DuckDbName());
    } else if (b.missing && !b.missing->is_null()) {
      defaults.push_back(j);
      value = fmt::format("walden_default.v{}", j);
    } else {
      value = "NULL::" + b.type.DuckDbName();
    }
    select.push_back(value + " AS " + QuoteIdent(b.name));
  }
  if (!defaults.empty()) {
    if (auto ok = StoreDefaults(conn, to, defaults); !ok) return std::unexpected(ok.error());
  }
  const bool uses_default = !defaults.empty();
  std::string list;
  for (const std::string& item : select) list += (list.empty() ? "" : ", ") + item;
  const QualifiedName target = to.Physical();
  const QualifiedName rebuilt{target.schema, fmt::format("walden_rebuild_{}", to.relation_id)};
  const std::string statements[] = {
      "CREATE SCHEMA IF NOT EXISTS " + QuoteIdent(target.schema),
      fmt::format("CREATE TABLE {} AS SELECT {} FROM {}{}", rebuilt.ToSql(), list,
                  from.Physical().ToSql(), uses_default ? ", walden_default" : ""),
      "DROP TABLE " + from.Physical().ToSql(),
      fmt::format("ALTER TABLE {} RENAME TO {}", rebuilt.ToSql(), QuoteIdent(target.name)),
      "DROP TABLE IF EXISTS walden_default"};
  for (const std::string& sql : statements) {
    if (auto ok = conn.Execute(sql); !ok) return std::unexpected(ok.error());
  }
  return std::string();
}

}  // namespace walden::mirror::internal
