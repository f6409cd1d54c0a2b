#include "pg/catalog.h"

#include <algorithm>

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

}  // namespace walden::pg
