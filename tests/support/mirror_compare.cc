#include "tests/support/mirror_compare.h"

#include <fmt/core.h>

#include <algorithm>

#include "duck/duckdb.h"
#include "pg/connection.h"
#include "tests/support/pg_fixture.h"

namespace walden::testing {
namespace {

struct Canonical {
  std::string pg;
  std::string duck;
};

// One column's canonical text on both sides, from its PostgreSQL type.
Canonical CanonicalOf(const std::string& column, const std::string& type, char category) {
  const std::string c = QuoteIdent(column);
  if (category == 'A') return {"array_to_json(" + c + ")::text", "to_json(" + c + ")::VARCHAR"};
  if (type == "real" || type == "double precision") {
    return {fmt::format("CASE WHEN {0} = 'NaN' THEN 'nan' WHEN {0} = 'Infinity' THEN 'inf' "
                        "WHEN {0} = '-Infinity' THEN '-inf' ELSE {0}::text END",
                        c),
            "regexp_replace(lower(" + c + "::VARCHAR), '\\.0$', '')"};
  }
  if (type == "bytea") return {"encode(" + c + ", 'hex')", "lower(hex(" + c + "))"};
  if (type == "interval") {
    return {fmt::format("(extract(year from {0}) * 12 + extract(month from {0}))::bigint || ',' "
                        "|| extract(day from {0})::bigint || ',' || (extract(hour from {0}) * "
                        "3600000000 + extract(minute from {0}) * 60000000 + "
                        "extract(microseconds from {0}))::bigint",
                        c),
            fmt::format("(datepart('year', {0}) * 12 + datepart('month', {0}))::VARCHAR || ',' "
                        "|| datepart('day', {0})::VARCHAR || ',' || (datepart('hour', {0}) * "
                        "3600000000 + datepart('minute', {0}) * 60000000 + "
                        "datepart('microseconds', {0}))::VARCHAR",
                        c)};
  }
  if (type == "date" || type.starts_with("timestamp")) {
    return {"replace(" + c + "::text, ' BC', ' (BC)')", c + "::VARCHAR"};
  }
  // format() uses the type's output function, as pgoutput does (inet's ::text differs).
  if (type == "boolean") return {c + "::text", c + "::VARCHAR"};
  return {fmt::format("CASE WHEN {0} IS NOT NULL THEN format('%s', {0}) END", c), c + "::VARCHAR"};
}

std::string Render(const Row& row) {
  std::string out = "(";
  for (size_t i = 0; i < row.size(); ++i) {
    std::string value = row[i].value_or("NULL");
    if (value.size() > 40) value = value.substr(0, 20) + "…(" + std::to_string(value.size()) + ")";
    out += (i ? ", " : "") + value;
  }
  return out + ")";
}

}  // namespace

std::string MirrorDiff(const std::string& conninfo, const std::string& mirror_path,
                       const QualifiedName& table) {
  auto conn = pg::Connection::Open(conninfo);
  if (!conn) return "source: " + conn.error().message;
  (void)conn->Exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'");
  const auto columns = Rows(
      *conn, fmt::format("SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory "
                         "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid WHERE "
                         "a.attrelid = {}::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                         "ORDER BY a.attnum",
                         QuoteLiteral(table.ToSql())));
  if (columns.empty()) return "source table " + table.Display() + " has no columns";
  std::string pg_select, duck_select;
  for (const Row& column : columns) {
    const Canonical canonical =
        CanonicalOf(*column[0], *column[1], column[2].value_or("U").front());
    pg_select += (pg_select.empty() ? "" : ", ") + canonical.pg;
    duck_select += (duck_select.empty() ? "" : ", ") + canonical.duck;
  }
  std::vector<Row> source = Rows(*conn, "SELECT " + pg_select + " FROM " + table.ToSql());
  auto db = duck::Database::Open(mirror_path, /*read_only=*/true);
  if (!db) return "mirror: " + db.error().message;
  auto duck = duck::Connection::Open(*db);
  (void)duck->Execute("SET TimeZone = 'UTC'");
  auto result = duck->Query("SELECT " + duck_select + " FROM " + table.ToSql());
  if (!result) return "mirror: " + result.error().message;
  std::vector<Row> mirror;
  for (size_t r = 0; r < result->rows(); ++r) {
    Row row;
    for (size_t c = 0; c < result->columns(); ++c) row.push_back(result->Text(r, c));
    mirror.push_back(std::move(row));
  }
  std::ranges::sort(source);
  std::ranges::sort(mirror);
  if (source == mirror) return {};
  std::string diff = fmt::format("{}: source has {} rows, mirror {}", table.Display(),
                                 source.size(), mirror.size());
  std::vector<Row> only_source, only_mirror;
  std::ranges::set_difference(source, mirror, std::back_inserter(only_source));
  std::ranges::set_difference(mirror, source, std::back_inserter(only_mirror));
  for (size_t i = 0; i < std::min<size_t>(only_source.size(), 5); ++i) {
    diff += "\n  only in source: " + Render(only_source[i]);
  }
  for (size_t i = 0; i < std::min<size_t>(only_mirror.size(), 5); ++i) {
    diff += "\n  only in mirror: " + Render(only_mirror[i]);
  }
  return diff;
}

}  // namespace walden::testing
