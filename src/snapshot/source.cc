#include "snapshot/source.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "change/change.h"
#include "common/strings.h"
#include "snapshot/copy_text.h"

namespace walden::snapshot {
namespace {

std::vector<int> ParseAttnums(std::string_view text) {
  std::vector<int> attnums;
  std::istringstream in{std::string(text)};
  for (int attnum; in >> attnum;) attnums.push_back(attnum);
  return attnums;
}

std::string RowOf(const std::vector<std::string>& items) { return "(" + Join(items, ", ") + ")"; }

// The order key's quoted column names, comma-separated.
std::string KeyList(const SourceTable& table) {
  std::vector<std::string> names;
  for (size_t i : table.order_key) names.push_back(QuoteIdent(table.relation.columns[i].name));
  return Join(names, ", ");
}

std::string KeyLiteral(const std::vector<std::string>& key) {
  std::vector<std::string> literals;
  for (const std::string& value : key) literals.push_back(QuoteLiteral(value));
  return RowOf(literals);
}

}  // namespace

Result<std::vector<QualifiedName>> PublishedTables(pg::Connection& conn,
                                                   const std::vector<std::string>& publications) {
  const std::optional<std::string> params[] = {nlohmann::json(publications).dump(),
                                               std::string(change::kWaldenSchema)};
  auto result = conn.ExecParams(
      "WITH p AS (SELECT DISTINCT t.schemaname, t.tablename, c.oid AS rel "
      "  FROM pg_catalog.pg_publication_tables t "
      "  JOIN pg_catalog.pg_namespace n ON n.nspname = t.schemaname "
      "  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename "
      "  WHERE t.pubname IN (SELECT jsonb_array_elements_text($1::jsonb))) "
      "SELECT p.schemaname, p.tablename FROM p WHERE p.schemaname <> $2 AND NOT EXISTS ("
      "  SELECT 1 FROM p AS root WHERE root.rel <> p.rel "
      "  AND root.rel = pg_catalog.pg_partition_root(p.rel)) ORDER BY 1, 2",
      params);
  if (!result) return std::unexpected(result.error());
  std::vector<QualifiedName> tables;
  for (int row = 0; row < result->rows(); ++row) {
    tables.push_back({std::string(result->Value(row, 0)), std::string(result->Value(row, 1))});
  }
  return tables;
}

Result<SourceTable> DescribeTable(pg::Connection& conn, const QualifiedName& name) {
  const std::optional<std::string> names[] = {name.schema, name.name};
  auto rel = conn.ExecParams(
      "SELECT c.oid, c.relreplident, c.reltuples, "
      "pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int, "
      "(SELECT i.indkey::text FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND "
      "i.indisprimary), (SELECT i.indkey::text FROM pg_catalog.pg_index i WHERE i.indrelid = "
      "c.oid AND i.indisreplident) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN "
      "('r', 'p')",
      names);
  if (!rel) return std::unexpected(rel.error());
  if (rel->rows() != 1) {
    return Fail(ErrorKind::kNotFound, "table " + name.Display() + " does not exist");
  }
  SourceTable table{.name = name};
  pg::pgoutput::Relation& relation = table.relation;
  auto oid = rel->Int(0, 0);
  auto tuples = rel->Real(0, 2);
  auto pages = rel->Int(0, 3);
  if (!oid || !tuples || !pages) return std::unexpected((!oid ? oid : pages).error());
  relation.relation_id = static_cast<uint32_t>(*oid);
  relation.schema = name.schema;
  relation.name = name.name;
  relation.replica_identity = rel->Value(0, 1).empty() ? 'd' : rel->Value(0, 1)[0];
  table.estimated_rows = std::max(0.0, *tuples);
  table.pages = *pages;
  const std::vector<int> primary = ParseAttnums(rel->Value(0, 4));
  const std::vector<int> identity = ParseAttnums(rel->Value(0, 5));
  auto columns = conn.Exec(fmt::format(
      "SELECT attname, atttypid, atttypmod, attnum FROM pg_catalog.pg_attribute WHERE attrelid "
      "= {} AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
      relation.relation_id));
  if (!columns) return std::unexpected(columns.error());
  // pgoutput flags the replica identity: the primary key by default, the chosen index, every
  // column with FULL, none with NOTHING.
  const std::vector<int>& flagged = relation.replica_identity == 'i' ? identity : primary;
  std::vector<int> attnums;
  for (int row = 0; row < columns->rows(); ++row) {
    auto number = columns->Int(row, 3);
    auto type_oid = columns->Int(row, 1);
    auto typmod = columns->Int(row, 2);
    if (!number || !type_oid || !typmod) {
      return std::unexpected((!number ? number : !type_oid ? type_oid : typmod).error());
    }
    const int attnum = static_cast<int>(*number);
    const bool key =
        relation.replica_identity == 'f' ||
        (relation.replica_identity != 'n' && std::ranges::find(flagged, attnum) != flagged.end());
    relation.columns.push_back({.flags = static_cast<uint8_t>(key ? 1 : 0),
                                .name = std::string(columns->Value(row, 0)),
                                .type_oid = static_cast<uint32_t>(*type_oid),
                                .type_modifier = static_cast<int>(*typmod)});
    attnums.push_back(attnum);
  }
  for (int attnum : primary.empty() ? identity : primary) {
    const auto at = std::ranges::find(attnums, attnum);
    if (at == attnums.end()) return table;  // a key over an expression: read by ctid
    table.order_key.push_back(static_cast<size_t>(at - attnums.begin()));
  }
  return table;
}

std::string BoundsQuery(const SourceTable& table, int64_t chunk_rows) {
  std::vector<std::string> texts;
  for (size_t i : table.order_key) {
    texts.push_back(QuoteIdent(table.relation.columns[i].name) + "::text");
  }
  const double chunks = table.estimated_rows / static_cast<double>(chunk_rows);
  // About 50 sampled pages per chunk keep chunks near chunk_rows rows.
  const double percent = table.pages > 0 ? 100.0 * 50.0 * chunks / table.pages : 100.0;
  std::string source = table.name.ToSql();
  int64_t every = chunk_rows;
  if (chunks >= kSampledPlanChunks && percent < 100.0) {
    source += fmt::format(" TABLESAMPLE SYSTEM ({:.6f})", percent);
    every = std::max<int64_t>(1, std::llround(chunk_rows * percent / 100.0));
  }
  const std::string key_list = KeyList(table);
  return fmt::format(
      "SELECT {} FROM (SELECT {}, row_number() OVER (ORDER BY {}) AS walden_rn FROM {}) s "
      "WHERE walden_rn % {} = 0 ORDER BY walden_rn",
      Join(texts, ", "), key_list, key_list, source, every);
}

Result<std::vector<Chunk>> PlanChunks(pg::Connection& conn, const SourceTable& table,
                                      int64_t chunk_rows) {
  std::vector<Chunk> chunks;
  if (table.order_key.empty()) {
    double rows = table.estimated_rows;
    if (rows <= 0 && table.pages > 0) {
      auto counted = conn.QueryValue("SELECT count(*) FROM " + table.name.ToSql());
      if (!counted) return std::unexpected(counted.error());
      rows = ParseDouble(*counted).value_or(0);
    }
    const double per_page = table.pages > 0 ? std::max(1.0, rows / table.pages) : 1.0;
    const int64_t step =
        std::max<int64_t>(1, static_cast<int64_t>(std::floor(chunk_rows / per_page)));
    for (int64_t page = 0; page + step < table.pages; page += step) {
      chunks.push_back({.lo_page = page, .hi_page = page + step});
    }
    chunks.push_back({.lo_page = chunks.empty() ? 0 : chunks.back().hi_page, .hi_page = -1});
    return chunks;
  }
  auto bounds = conn.Exec(BoundsQuery(table, chunk_rows));
  if (!bounds) return std::unexpected(bounds.error());
  std::optional<std::vector<std::string>> lo;
  for (int row = 0; row < bounds->rows(); ++row) {
    std::vector<std::string> hi;
    for (int c = 0; c < bounds->columns(); ++c) hi.emplace_back(bounds->Value(row, c));
    chunks.push_back({.lo = lo, .hi = hi});
    lo = std::move(hi);
  }
  chunks.push_back({.lo = lo});
  return chunks;
}

std::string ChunkQuery(const SourceTable& table, const Chunk& chunk, int64_t limit) {
  std::vector<std::string> columns;
  for (const auto& column : table.relation.columns) columns.push_back(QuoteIdent(column.name));
  std::string sql = "SELECT " + Join(columns, ", ") + " FROM " + table.name.ToSql();
  std::vector<std::string> where;
  if (table.order_key.empty()) {
    if (chunk.lo_page > 0) where.push_back(fmt::format("ctid >= '({},0)'::tid", chunk.lo_page));
    if (chunk.hi_page >= 0) where.push_back(fmt::format("ctid < '({},0)'::tid", chunk.hi_page));
  } else {
    const std::string key = "(" + KeyList(table) + ")";
    if (chunk.lo) where.push_back(key + " > " + KeyLiteral(*chunk.lo));
    if (chunk.hi) where.push_back(key + " <= " + KeyLiteral(*chunk.hi));
  }
  if (!where.empty()) sql += " WHERE " + Join(where, " AND ");
  if (!table.order_key.empty()) sql += " ORDER BY " + KeyList(table);
  if (limit > 0) sql += fmt::format(" LIMIT {}", limit);
  return sql;
}

std::string KeysQuery(const SourceTable& table, const std::vector<std::vector<std::string>>& keys) {
  // Each value goes through its column's input function (and prints in its output form).
  nlohmann::json records = nlohmann::json::array();
  for (const std::vector<std::string>& key : keys) {
    nlohmann::json record = nlohmann::json::object();
    for (size_t k = 0; k < key.size() && k < table.order_key.size(); ++k) {
      record[table.relation.columns[table.order_key[k]].name] = key[k];
    }
    records.push_back(std::move(record));
  }
  return fmt::format(
      "SELECT {} FROM pg_catalog.jsonb_populate_recordset(NULL::{}, {})", KeyList(table),
      table.name.ToSql(),
      QuoteLiteral(records.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

std::string RowsOfKeysQuery(const SourceTable& table,
                            const std::vector<std::vector<std::string>>& keys) {
  std::vector<std::string> columns;
  for (const auto& column : table.relation.columns) columns.push_back(QuoteIdent(column.name));
  return fmt::format("SELECT {} FROM {} WHERE ({}) IN ({}) ORDER BY {}", Join(columns, ", "),
                     table.name.ToSql(), KeyList(table), KeysQuery(table, keys), KeyList(table));
}

Status ReadCopyText(pg::Connection& conn, std::string_view select, size_t width,
                    std::vector<pg::pgoutput::Tuple>& rows) {
  return conn.CopyOut("COPY (" + std::string(select) + ") TO STDOUT",
                      [&](std::string_view line) -> Status {
                        if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
                        pg::pgoutput::Tuple tuple;
                        if (auto ok = ParseCopyTextLine(line, width, tuple); !ok) return ok;
                        rows.push_back(std::move(tuple));
                        return Status{};
                      });
}

Status ReadChunk(pg::Connection& conn, const SourceTable& table, const Chunk& chunk, int64_t limit,
                 std::vector<pg::pgoutput::Tuple>& rows) {
  auto read =
      ReadCopyText(conn, ChunkQuery(table, chunk, limit), table.relation.columns.size(), rows);
  if (!read && read.error().kind == ErrorKind::kProtocol) {
    return Fail(ErrorKind::kProtocol, table.name.Display() + ": " + read.error().message);
  }
  return read;
}

std::vector<std::string> KeyOf(const SourceTable& table, const pg::pgoutput::Tuple& row) {
  std::vector<std::string> key;
  for (size_t i : table.order_key) key.emplace_back(row.Data(i));
  return key;
}

Status ImportSnapshot(pg::Connection& conn, const std::string& name) {
  if (auto begun = conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !begun) {
    return std::unexpected(begun.error());
  }
  if (auto set = conn.Exec("SET TRANSACTION SNAPSHOT " + QuoteLiteral(name)); !set) {
    return std::unexpected(set.error());
  }
  return {};
}

}  // namespace walden::snapshot
