// Compares a mirror table with its source table row for row, every column, typed: each
// side renders each value in one canonical text (chosen per PostgreSQL type, so that a
// wrong type, value, precision or time zone shows), rows are compared as sorted multisets
// (so a doubled or lost row shows too). Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/identifiers.h"

namespace walden::testing {

// Empty when equal; otherwise what differs (row counts and the first differing rows).
// `conninfo` reaches the source; `mirror_path` is a DuckDB file no one is writing.
std::string MirrorDiff(const std::string& conninfo, const std::string& mirror_path,
                       const QualifiedName& table);

}  // namespace walden::testing
