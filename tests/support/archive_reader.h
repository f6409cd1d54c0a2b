// Reads what an archive holds, as a user's DuckDB would: the live files the manifest names,
// as one view `changes` over all of them. Thread-safety: pure function.
#pragma once

#include <string>
#include <vector>

#include "store/object_store.h"
#include "tests/support/pg_fixture.h"

namespace walden::testing {

// Rows of `sql` over view `changes`; the files are downloaded into `scratch_dir` first, so
// this works for any store. Failures are test failures.
std::vector<Row> ArchiveRows(store::ObjectStore& from, const std::string& scratch_dir,
                             const std::string& sql);

}  // namespace walden::testing
