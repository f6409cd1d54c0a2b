// Reads a DuckDB file (a mirror, or any file walden wrote) read-only, for assertions.
// Thread-safety: pure function.
#pragma once

#include <string>
#include <vector>

#include "tests/support/pg_fixture.h"

namespace walden::testing {

// Rows of `sql` over the DuckDB database at `path`, values in DuckDB's text form.
std::vector<Row> DuckRows(const std::string& path, const std::string& sql);

}  // namespace walden::testing
