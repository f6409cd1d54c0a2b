// Catalog look-ups shared by capture and commands. Thread-safety: uses the given
// connection; one thread at a time.
#pragma once

#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "pg/connection.h"

namespace walden::pg {

// The tables the selectors name, in catalog order; empty selectors give an empty list
// (meaning every table). An exact name that matches nothing is a kNotFound error.
Result<std::vector<QualifiedName>> ResolveTables(Connection& conn,
                                                 const std::vector<TableSelector>& selectors);

}  // namespace walden::pg
