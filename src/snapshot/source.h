// The snapshot's side of PostgreSQL: which tables are published, how a table looks to
// pgoutput (so snapshot rows and streamed rows share one definition), how it is cut into
// chunks, and reading one chunk with COPY. Thread-safety: each function uses the given
// connection; one thread per connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "pg/connection.h"
#include "pg/pgoutput.h"

namespace walden::snapshot {

// A captured table as the snapshot reads it.
struct SourceTable {
  QualifiedName name;
  // The columns pgoutput publishes, in attnum order, with its key flags (replica identity).
  pg::pgoutput::Relation relation;
  // The columns chunks are ordered and bounded by: the primary key, else the replica
  // identity index; empty: the table has neither and is read by ctid ranges.
  std::vector<size_t> order_key;
  double estimated_rows = 0;  // pg_class.reltuples (0 when never analyzed)
  int64_t pages = 0;          // current size in blocks
};

// One piece of a table. Keyed tables: rows with lo < key <= hi in key order (no lo: from
// the first key; no hi: to the last). Tables without key: pages [lo_page, hi_page) by
// ctid (hi_page < 0: to the end). Progress is kept per chunk.
struct Chunk {
  std::optional<std::vector<std::string>> lo;
  std::optional<std::vector<std::string>> hi;
  int64_t lo_page = 0;
  int64_t hi_page = -1;
  // The commit LSN of the transaction its rows went out with; 0: not delivered yet.
  uint64_t delivered = 0;
  int64_t rows = 0;
};

// The tables the stream carries for these publications, in name order, as the stream
// names them: a partition whose root is published too is left out (a publication with
// publish_via_partition_root sends its changes as the root's), and so is every table in
// the source's schema walden (walden's own, change::kWaldenSchema).
Result<std::vector<QualifiedName>> PublishedTables(pg::Connection& conn,
                                                   const std::vector<std::string>& publications);

Result<SourceTable> DescribeTable(pg::Connection& conn, const QualifiedName& name);

// Chunks of about `chunk_rows` rows covering the whole table as the connection's snapshot
// sees it: ctid page ranges for tables without key; key ranges otherwise, with boundaries
// from one ordered pass over the key (BoundsQuery).
Result<std::vector<Chunk>> PlanChunks(pg::Connection& conn, const SourceTable& table,
                                      int64_t chunk_rows);

// Tables of at least this many chunks (by their row estimate) are planned from a sample.
inline constexpr double kSampledPlanChunks = 8;
// The SELECT of the key of every chunk_rows-th row in key order (the chunk boundaries).
// Small tables: exact. Tables of kSampledPlanChunks chunks and more: from a sample of their
// pages (TABLESAMPLE SYSTEM, about 50 pages per chunk), so the load of a big table starts
// at once instead of after an ordered pass over its whole key; chunks are then about
// chunk_rows rows. Any boundaries are correct: chunks always cover every key.
std::string BoundsQuery(const SourceTable& table, int64_t chunk_rows);

// SELECT of the chunk's rows in key order; `limit` > 0 reads at most that many.
std::string ChunkQuery(const SourceTable& table, const Chunk& chunk, int64_t limit = 0);

// The key columns of `keys` (text forms, in key order) typed as the table's columns (and
// printed in PostgreSQL's own forms).
std::string KeysQuery(const SourceTable& table, const std::vector<std::vector<std::string>>& keys);
// The rows whose key is one of `keys`, in key order.
std::string RowsOfKeysQuery(const SourceTable& table,
                            const std::vector<std::vector<std::string>>& keys);

// Runs `COPY (select) TO STDOUT` (text format) and appends its rows of `width` columns to
// `rows`, as pgoutput tuples.
Status ReadCopyText(pg::Connection& conn, std::string_view select, size_t width,
                    std::vector<pg::pgoutput::Tuple>& rows);

// Reads the chunk with COPY (text format) and appends its rows to `rows`, in key order.
Status ReadChunk(pg::Connection& conn, const SourceTable& table, const Chunk& chunk, int64_t limit,
                 std::vector<pg::pgoutput::Tuple>& rows);

// The text of the order key columns of a row (for chunk bounds).
std::vector<std::string> KeyOf(const SourceTable& table, const pg::pgoutput::Tuple& row);

// Starts a REPEATABLE READ, READ ONLY transaction on the snapshot `name` exported by
// CREATE_REPLICATION_SLOT (or pg_export_snapshot).
Status ImportSnapshot(pg::Connection& conn, const std::string& name);

}  // namespace walden::snapshot
