// Catalog look-ups shared by capture and commands. Thread-safety: uses the given
// connection; one thread at a time.
#pragma once

#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "pg/connection.h"
#include "pg/relation_cache.h"
#include "pg/types.h"

namespace walden::pg {

// The tables the selectors name, in catalog order; empty selectors give an empty list
// (meaning every table). An exact name that matches nothing is a kNotFound error.
Result<std::vector<QualifiedName>> ResolveTables(Connection& conn,
                                                 const std::vector<TableSelector>& selectors);

// The type facts the decoders need for a user-defined type; nullopt (logged) when the
// catalog has no such type, an error when it could not be asked.
Result<std::optional<PgTypeInfo>> LookupType(Connection& catalog, uint32_t oid);
// pg_attribute of a relation (attnum > 0, dropped ones included) in attnum order; an error
// when the catalog could not be asked.
Result<std::vector<CatalogAttribute>> LookupAttributes(Connection& catalog, uint32_t relation_id);

}  // namespace walden::pg
