// Archive segments: changes spool into a local DuckDB database between flushes (DuckDB keeps
// memory bounded and spills to disk), and a flush turns each table's spooled changes into
// one Zstd Parquet file per commit day with the layout of design §3:
//
//   tables/<schema>/<table>/dt=YYYY-MM-DD/<first_commit_lsn>-<last_commit_lsn>.parquet
//
// Each row is one change: the table's columns (typed) and _walden_op, _walden_lsn,
// _walden_seq, _walden_xid, _walden_commit_ts, _walden_before, _walden_unchanged.
// The spool is not durable on purpose: after a crash the replication slot replays what
// no manifest commit covers. Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/datum.h"
#include "common/error.h"
#include "common/identifiers.h"
#include "duck/appender.h"
#include "duck/duckdb.h"

namespace walden::archive {

// A captured table at one schema version.
struct TableSchema {
  QualifiedName name;
  int version = 1;
  std::vector<std::string> columns;
  std::vector<ColumnType> types;
  // The table's key when it is one integer or text column: each file records its range
  // (KeyRange) so that a look-up of one key reads only the files that can hold it.
  std::optional<size_t> key_column;
};

// The range of a file's single-column key, as DuckDB prints the values.
struct KeyRange {
  std::string column;
  bool numeric = false;  // integers (compared as numbers), else text (compared bytewise)
  std::string min, max;
};

struct ArchiveChange {
  char op = 'c';  // r snapshot read, c insert, u update, d delete
  uint64_t commit_lsn = 0;
  int64_t seq = 0;  // position inside the transaction
  uint32_t xid = 0;
  int64_t commit_time = 0;             // µs since 1970-01-01 UTC
  std::vector<Datum> values;           // one per column; deletes carry the old key or row
  std::optional<std::string> before;   // old key or old row as JSON, when PostgreSQL sent one
  std::vector<std::string> unchanged;  // unchanged-TOAST columns that were filled
};

// A row group's bytes in its file (its first column chunk up to the next row group's), what
// a reader prunes it by, and the SHA-256 a ranged read of it is checked against.
struct RowGroupPart {
  int64_t offset = 0;
  int64_t length = 0;
  int64_t rows = 0;
  int64_t min_commit_time = 0;
  int64_t max_commit_time = 0;
  uint64_t min_lsn = 0;
  uint64_t max_lsn = 0;
  // The range of the file's numeric key (KeyRange) in this row group; empty: unknown.
  std::string key_min, key_max;
  std::string sha256;
  friend bool operator==(const RowGroupPart&, const RowGroupPart&) = default;
};

struct SegmentFile {
  QualifiedName table;
  std::optional<KeyRange> key_range;  // none: unknown (the file is read for any key)
  int schema_version = 1;
  std::string day;  // YYYY-MM-DD of the commits (UTC)
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  int64_t min_commit_time = 0;
  int64_t max_commit_time = 0;
  std::string key;         // object key in the archive
  std::string local_path;  // the written file, until uploaded
  std::string sha256;      // of the file's bytes, hex; empty in commits of older walden
  // The file's row groups in order, the first at byte 4 (after the magic), the footer
  // after the last; empty when unknown (older walden, no rows): read only as a whole.
  std::vector<RowGroupPart> row_groups;
  std::string footer_sha256;  // of the bytes after the last row group
  int64_t FooterOffset() const {
    return row_groups.empty() ? bytes : row_groups.back().offset + row_groups.back().length;
  }
};

// Records the written file's size and SHA-256 (what readers and `walden archive verify`
// check the stored object against), and its row groups (from the footer, via `conn`; with
// the range of the key in each when file.key_range is a numeric one).
Status Fingerprint(duck::Connection& conn, SegmentFile& file);

// "tables/<schema>/<table>/dt=<day>/<first>-<last>.parquet"; names are kept readable,
// with '%', '/' and control characters percent-encoded so every name is one path segment.
std::string SegmentKey(const QualifiedName& table, const std::string& day, uint64_t first_lsn,
                       uint64_t last_lsn);
// The first commit LSN a segment key names ("…/<first>-<last>.parquet"); nullopt for keys
// of another shape.
std::optional<uint64_t> SegmentFirstLsn(std::string_view key);
std::string EncodePathSegment(std::string_view name);

// Writes the rows of `select_sql` (columns c0..cN: the table's columns, in order) as changes
// like `change` (its op, commit LSN, xid and commit time; no before image), numbered from
// seq 1 in the query's order, straight into one segment file under `out_dir`, as
// WriteSegments would write them: bulk rows skip the spool. On error no file is left.
// Thread-safety: uses only `conn`.
Result<SegmentFile> WriteQuerySegment(duck::Connection& conn, const TableSchema& table,
                                      const std::string& select_sql, const ArchiveChange& change,
                                      const std::string& out_dir);

// Spool tables sealed for a flush: no more appends; another thread may write them as
// segments (WriteSpoolSegments) over its own connection to the spool's database.
struct SpoolTable {
  TableSchema schema;
  std::string name;  // the table in the spool database
};
using SealedSpool = std::vector<SpoolTable>;

// Writes the changes of sealed spool tables as Parquet files under `out_dir` (one per
// table and commit day). Thread-safety: uses only `conn`.
Result<std::vector<SegmentFile>> WriteSpoolSegments(duck::Connection& conn,
                                                    const SealedSpool& tables,
                                                    const std::string& out_dir);

class Spool {
 public:
  // path: a DuckDB file (":memory:" for tests); memory_limit like "256MB".
  static Result<std::unique_ptr<Spool>> Open(const std::string& path,
                                             const std::string& memory_limit);

  Status Append(const TableSchema& table, std::span<const ArchiveChange> changes);
  // The spool's database, for connections of other threads (WriteQuerySegment).
  duck::Database& database() { return db_; }
  int64_t rows() const { return rows_; }
  // DuckDB's worker threads for the spool (0: one per core).
  Status SetThreads(int threads) { return conn_.SetThreads(threads); }

  // Fills the listed columns of the change (commit_lsn, seq) of `table` with the value the
  // same key had last: from earlier inserts and updates in the spool, else from the Parquet
  // files in `history` (local paths of the table's archived files). Returns the columns that
  // stayed unfilled (the key was never seen).
  Result<std::vector<std::string>> FillUnchanged(const TableSchema& table,
                                                 const std::vector<std::string>& key_columns,
                                                 const std::vector<std::string>& columns,
                                                 uint64_t commit_lsn, int64_t seq,
                                                 const std::vector<std::string>& history);
  // Writes the spooled changes as Parquet files under `out_dir`; the spool keeps them
  // until Clear (after the manifest commit that names the files).
  Result<std::vector<SegmentFile>> WriteSegments(const std::string& out_dir);
  Status Clear();

  // Ends the current generation: its tables take no more appends and are returned for a
  // flush on another thread; later appends start new tables (rows() starts from 0). Sealed
  // tables still serve FillUnchanged until DropSealed, which the owner calls once the
  // manifest commit naming their segments is done. One sealed generation at a time.
  Result<SealedSpool> Seal();
  Status DropSealed();

 private:
  Spool(duck::Database db, duck::Connection conn) : db_(std::move(db)), conn_(std::move(conn)) {}

  Status FlushAppenders();

  duck::Database db_;
  duck::Connection conn_;
  struct Spooled {
    TableSchema schema;
    std::string spool_table;
    std::unique_ptr<duck::Appender> appender;  // open between flushes: appends are cheap
    std::vector<ColumnType> row_types;         // the table's types, then the metadata's
  };
  Spooled* Find(const TableSchema& table);
  Result<Spooled*> EnsureTable(const TableSchema& table);
  std::vector<Spooled> tables_;
  SealedSpool sealed_;
  int64_t rows_ = 0;
  int64_t next_table_ = 0;  // spool table names are never reused
};

}  // namespace walden::archive
