// Rows that reach both sinks as one query instead of one change each: a chunk of the
// initial load, read by DuckDB itself (snapshot/bulk.h). The sinks treat it as one source
// transaction of `r` rows of one table, exactly once by its commit LSN like any other.
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pg/assembler.h"

namespace walden::pipeline {

struct BulkRead {
  pg::TransactionInfo info;
  std::shared_ptr<const pg::RelationInfo> relation;
  // A DuckDB SELECT of the rows: the relation's columns, in order, typed as its types.
  std::string select_sql;
  int64_t bytes = 0;  // about how much data it reads (flush sizing)
};

}  // namespace walden::pipeline
