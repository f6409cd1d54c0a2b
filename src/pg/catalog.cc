#include "pg/catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/strings.h"

namespace walden::pg {

Result<std::vector<QualifiedName>> ResolveTables(Connection& conn,
                                                 const std::vector<TableSelector>& selectors) {
  std::vector<QualifiedName> resolved;
  if (selectors.empty()) return resolved;
  auto result = conn.Exec(
      "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1, 2");
  if (!result) return std::unexpected(result.error());
  for (const TableSelector& selector : selectors) {
    bool matched = false;
    for (int row = 0; row < result->rows(); ++row) {
      QualifiedName name{std::string(result->Value(row, 0)), std::string(result->Value(row, 1))};
      if (!selector.Matches(name)) continue;
      matched = true;
      if (std::find(resolved.begin(), resolved.end(), name) == resolved.end()) {
        resolved.push_back(std::move(name));
      }
    }
    if (!matched && selector.table) {
      return Fail(ErrorKind::kNotFound,
                  "table " + selector.Display() +
                      " does not exist (names are case-sensitive when quoted; run walden "
                      "doctor for details)");
    }
  }
  if (resolved.empty()) {
    return Fail(ErrorKind::kNotFound, "source.tables matches no table; check the schema names");
  }
  return resolved;
}

Result<std::vector<CatalogAttribute>> LookupAttributes(Connection& catalog, uint32_t relation_id) {
  std::vector<CatalogAttribute> columns;
  auto result = catalog.Exec(
      "SELECT attname, attnum, atthasmissing, CASE WHEN atthasmissing THEN attmissingval::text "
      "END, atthasdef, attisdropped FROM pg_catalog.pg_attribute WHERE attrelid = " +
      std::to_string(relation_id) + " AND attnum > 0 ORDER BY attnum");
  if (!result) {
    return Wrap(result.error(),
                fmt::format("columns of relation {} not readable from the catalog", relation_id));
  }
  for (int row = 0; row < result->rows(); ++row) {
    CatalogAttribute& column = columns.emplace_back();
    column.name = std::string(result->Value(row, 0));
    column.attnum = static_cast<int>(ParseInt64(result->Value(row, 1)).value_or(0));
    if (result->Value(row, 2) == "t") column.facts.missing = std::string(result->Value(row, 3));
    column.facts.has_default = result->Value(row, 4) == "t";
    column.dropped = result->Value(row, 5) == "t";
  }
  return columns;
}

Result<std::optional<PgTypeInfo>> LookupType(Connection& catalog, uint32_t oid) {
  auto result = catalog.Exec(
      "SELECT typtype, typbasetype, typtypmod, CASE WHEN typcategory = 'A' THEN typelem "
      "ELSE 0 END FROM pg_catalog.pg_type WHERE oid = " +
      std::to_string(oid));
  if (!result) {
    return Wrap(result.error(), fmt::format("type {} not readable from the catalog", oid));
  }
  if (result->rows() != 1) {
    spdlog::warn("type {} not found in the catalog; its values are kept as text", oid);
    return std::nullopt;
  }
  auto base = result->Int(0, 1);
  auto typmod = result->Int(0, 2);
  auto element = result->Int(0, 3);
  if (!base || !typmod || !element) {
    spdlog::warn("type {}: unexpected catalog values; its values are kept as text", oid);
    return std::nullopt;
  }
  return PgTypeInfo{.typtype = result->Value(0, 0).empty() ? 'b' : result->Value(0, 0)[0],
                    .base_type = static_cast<uint32_t>(*base),
                    .base_typmod = static_cast<int>(*typmod),
                    .element_type = static_cast<uint32_t>(*element)};
}

}  // namespace walden::pg
