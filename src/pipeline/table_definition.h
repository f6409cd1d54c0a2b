// A captured relation version as a table definition (mirror::TableDef: columns, types,
// keys, catalog facts such as stored defaults). The mirror creates and alters its tables
// from it, and the archive records it under `_walden/schemas/` so that a rebuild from the
// archive alone knows every table's shape. Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>

#include "common/datum.h"
#include "mirror/table_def.h"
#include "pg/relation_cache.h"

namespace walden::pipeline {

mirror::TableDef TableDefOf(const pg::RelationInfo& relation);
// The value of pg_attribute.attmissingval's text ("{7}") for a column of `type`; nullopt
// when it does not parse (the mirror then treats the default as unknown).
std::optional<Datum> ParseMissingValue(const ColumnType& type, const std::string& text);

}  // namespace walden::pipeline
