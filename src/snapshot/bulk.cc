#include "snapshot/bulk.h"

#include <fmt/core.h>

#include <cstdio>
#include <memory>

#include "common/files.h"
#include "common/identifiers.h"
#include "common/strings.h"

namespace walden::snapshot {
namespace {

// Casts of column `c` (VARCHAR, NULL for SQL NULL) to `type`; empty when there is none.
std::string CastOf(const ColumnType& type, const std::string& c) {
  switch (type.kind) {
    case TypeKind::kText:
      return c;
    case TypeKind::kBool:
    case TypeKind::kInt16:
    case TypeKind::kInt32:
    case TypeKind::kInt64:
    case TypeKind::kFloat32:
    case TypeKind::kFloat64:
    case TypeKind::kDecimal:  // numeric(p,s) prints exactly s digits: no rounding
    case TypeKind::kUuid:
    case TypeKind::kTime:
    case TypeKind::kJson:  // validated, kept as written
      return fmt::format("CAST({} AS {})", c, type.DuckDbName());
    case TypeKind::kDate:
    case TypeKind::kTimestamp:
    case TypeKind::kTimestampTz:
      // DuckDB reads "0044-03-15 BC" as the year 44 AD: make it a cast error instead.
      return fmt::format("CAST(CASE WHEN ends_with({0}, ' BC') THEN 'BC' ELSE {0} END AS {1})", c,
                         type.DuckDbName());
    case TypeKind::kBlob:  // bytea_output = hex: "\x00ff"
      return fmt::format(
          "from_hex(CASE WHEN NOT starts_with({0}, '\\x') THEN 'not hex' ELSE substr({0}, 3) END)",
          c);
    case TypeKind::kTimeTz:    // DuckDB keeps a TIMETZ's offset differently
    case TypeKind::kInterval:  // ISO 8601 durations: DuckDB's cast does not read them
    case TypeKind::kList:      // PostgreSQL's array literals
      return {};
  }
  return {};
}

}  // namespace

bool BulkEligible(std::span<const ColumnType> types) {
  if (types.empty()) return false;
  for (const ColumnType& type : types) {
    if (CastOf(type, "c").empty()) return false;
  }
  return true;
}

std::string BulkSelectSql(std::span<const ColumnType> types, const std::string& csv_path) {
  std::vector<std::string> casts, columns;
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string c = fmt::format("c{}", i);
    casts.push_back(CastOf(types[i], c) + " AS " + c);
    columns.push_back(fmt::format("'{}': 'VARCHAR'", c));
  }
  // COPY's CSV: NULL is an empty unquoted field, an empty string is "".
  return fmt::format(
      "SELECT {} FROM read_csv({}, columns = {{{}}}, header = false, auto_detect = false, "
      "delim = ',', quote = '\"', escape = '\"', nullstr = '', allow_quoted_nulls = false)",
      Join(casts, ", "), QuoteLiteral(csv_path), Join(columns, ", "));
}

Result<int64_t> ReadChunkCsv(pg::Connection& conn, const SourceTable& table, const Chunk& chunk,
                             const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) return IoError("cannot create", path);
  std::setvbuf(file.get(), nullptr, _IOFBF, 1 << 20);
  int64_t bytes = 0;
  auto copied =
      conn.CopyOut("COPY (" + ChunkQuery(table, chunk) + ") TO STDOUT (FORMAT csv)",
                   [&](std::string_view data) -> Status {
                     if (std::fwrite(data.data(), 1, data.size(), file.get()) != data.size()) {
                       return IoError("cannot write", path);
                     }
                     bytes += static_cast<int64_t>(data.size());
                     return {};
                   });
  if (!copied) return std::unexpected(copied.error());
  if (std::fclose(file.release()) != 0) return IoError("cannot write", path);
  return bytes;
}

}  // namespace walden::snapshot
