// Made-up committed transactions for the pipeline's unit tests: a one-column keyed table
// and transactions inserting chosen ids. Thread-safety: plain values.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pg/assembler.h"

namespace walden::pipeline::testing {

inline std::shared_ptr<const pg::RelationInfo> Items() {
  auto relation = std::make_shared<pg::RelationInfo>();
  relation->id = 16384;
  relation->name = {"public", "items"};
  relation->columns = {{.flags = 1, .name = "id"}};
  relation->types = {{.kind = TypeKind::kInt64}};
  return relation;
}

// Transaction n inserts `ids` in order; its commit LSN is 100·n, its end LSN 100·n + 8.
inline pg::CommittedTransaction InsertTxn(const std::shared_ptr<const pg::RelationInfo>& relation,
                                          int n, const std::vector<int64_t>& ids) {
  std::vector<pg::Change> changes;
  for (const int64_t value : ids) {
    const std::string id = std::to_string(value);
    pg::pgoutput::Tuple tuple;
    tuple.bytes = id;
    tuple.values = {{pg::pgoutput::ValueKind::kText, 0, static_cast<uint32_t>(id.size())}};
    changes.push_back(
        {.kind = pg::Change::Kind::kInsert, .relation = relation, .new_tuple = tuple});
  }
  return pg::CommittedTransaction({.xid = static_cast<uint32_t>(n),
                                   .commit_lsn = Lsn{static_cast<uint64_t>(100 * n)},
                                   .end_lsn = Lsn{static_cast<uint64_t>(100 * n + 8)}},
                                  std::move(changes));
}

}  // namespace walden::pipeline::testing
