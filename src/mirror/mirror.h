// The mirror (design §4): one DuckDB file holding the current state of every captured
// table, under the source's schema and table names, and walden's own state in schema
// `walden` (watermark, table registry).
//
// Use: for each committed source transaction the caller `Define`s the table definitions its
// changes use and `Add`s the changes; `Commit` then applies everything staged, in order,
// in ONE DuckDB transaction together with the new watermark. So a source transaction is
// never half visible, and after a crash the file equals the source as of its watermark
// (exactly once: the caller skips transactions at or below `watermark()`).
//
// Merges are set-based: staged changes go through DuckDB's appender into temporary stage
// tables and are merged per table with a few statements (last change per key wins, key
// changes delete the old key, unchanged TOAST values are taken from the current row).
// Tables with REPLICA IDENTITY FULL and no key are matched on the whole old row, one change
// at a time. Thread-safety: one thread drives a Mirror; other threads may query through
// their own connections to `database()` (DuckDB's MVCC gives them committed states only).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "change/table_def.h"
#include "common/datum.h"
#include "common/error.h"
#include "common/lsn.h"
#include "duck/duckdb.h"

namespace walden::mirror {

struct MirrorWatermark {
  Lsn commit_lsn;
  Lsn end_lsn;
  int64_t commit_time = 0;  // µs since 1970 (UTC) of that source commit
};

// A table whose mirror copy cannot follow the source any more, and why.
inline constexpr const char* kStateStreaming = "streaming";
inline constexpr const char* kStateAppendOnly = "append-only";
inline constexpr const char* kStateResync = "resync-required";
// A snapshot fills a new copy in walden.building_<relation id>; the old copy stays
// queryable under the table's name until the new one replaces it.
inline constexpr const char* kStateRefilling = "refilling";

struct TableStatus {
  change::TableDef def;
  std::string state;
  std::string reason;
  int version = 1;  // bumped by every schema step applied
  int64_t inserts = 0;
  int64_t updates = 0;
  int64_t deletes = 0;
  int64_t truncates = 0;
  int64_t skipped = 0;  // changes not applied while the table needs a re-snapshot
};

struct MirrorChange {
  char op = 'c';  // c insert, u update, d delete (r snapshot reads merge like inserts)
  uint64_t lsn = 0;
  int64_t seq = 0;
  // The new row, one value per column; nullopt: unchanged TOAST value. Empty for deletes.
  std::span<const std::optional<Datum>> values;
  // The old key (key columns, in column order) or, for full-row tables, the old row.
  // Empty for an update that left the key as it was.
  std::span<const Datum> before;
};

struct MirrorOptions {
  std::string memory_limit = "512MB";
  int threads = 0;  // 0: DuckDB's default
  // When set, the database is contained (duck::Database::Contain): SQL on it, walden's and
  // queries', reaches no file outside these directories.
  std::optional<std::vector<std::string>> allowed_directories;
  // Tests: keyed merges in fewer parts than this fail as if DuckDB ran out of memory.
  int fault_out_of_memory_below_parts = 0;
};

class Mirror {
 public:
  // Opens or creates the file (":memory:" in tests).
  static Result<std::unique_ptr<Mirror>> Open(const std::string& path, MirrorOptions options = {});
  // No setting of the database can change from now on (DuckDB's lock_configuration), for
  // walden either: call once walden's own tuning (threads during an initial load) is done.
  Status LockConfiguration() { return conn_->Execute("SET lock_configuration = true"); }
  ~Mirror();

  const MirrorWatermark& watermark() const { return watermark_; }
  // True when nothing was ever committed (a new file).
  bool empty() const { return watermark_.commit_lsn.value == 0 && registry_.empty(); }
  duck::Database& database() { return *database_; }
  // DuckDB's worker threads for the file (0: one per core), e.g. fewer while loading.
  Status SetThreads(int threads) { return conn_->SetThreads(threads); }

  // The definition the following changes of `def.relation_id` use: a new table is created,
  // a changed one altered, in order with the changes, when the batch commits.
  Status Define(const change::TableDef& def);
  Status Add(uint32_t relation_id, const MirrorChange& change);
  Status Truncate(uint32_t relation_id);
  // The table starts over: dropped and created empty with `def`, following the source
  // again whatever its state was (an online snapshot refills it). Counts are kept. With
  // `keep_old`, the old copy stays queryable and the new one is built beside it (state
  // kStateRefilling) until `Promote`.
  Status Reset(const change::TableDef& def, bool keep_old = false);
  // The refilled copy replaces the old one (nothing when none is being built).
  Status Promote(uint32_t relation_id);
  // Applies all staged steps and the watermark in one DuckDB transaction. On error nothing
  // of the batch is visible and the Mirror must be reopened.
  Status Commit(const MirrorWatermark& watermark);
  bool has_pending() const { return !steps_.empty(); }
  int64_t pending_changes() const { return pending_changes_; }

  std::vector<TableStatus> Tables() const;

  // Inserts the rows of `select_sql` (the table's columns, in order) when the batch commits,
  // without merging: for a chunk of a table's initial load, whose rows the copy cannot hold
  // yet. The query runs inside Commit; a failing one fails the batch.
  Status Load(uint32_t relation_id, std::string select_sql);

  // Stages the rows of `select_sql` (columns: _op, _lsn, _seq, the table's columns in order,
  // then the before columns b0..bN) as one stage of the table: the rebuild's bulk path.
  Status StageQuery(uint32_t relation_id, const std::string& select_sql);

  struct Stage;
  struct Step;

 private:
  Mirror() = default;
  Status LoadState();
  Result<Stage*> OpenStage(uint32_t relation_id);
  // One attempt at the batch in one DuckDB transaction (the caller rolls back a failure).
  Status CommitSteps(const MirrorWatermark& watermark);
  Status RunStep(Step& step);
  Status RunCreate(Step& step);
  Status RunAlter(Step& step, TableStatus& table);
  Status RunReset(Step& step, TableStatus& table);
  Status RunPromote(Step& step, TableStatus& table);
  Status RunMerge(Step& step, TableStatus& table);
  Status RunLoad(Step& step, TableStatus& table);
  // Writes the registry row; only the counts unless the definition or state changed.
  Status SaveTable(const TableStatus& table, bool with_definition);

  std::unique_ptr<duck::Database> database_;
  std::unique_ptr<duck::Connection> conn_;
  MirrorWatermark watermark_;
  std::map<uint32_t, TableStatus> registry_;  // as committed (plus this batch's steps)
  std::map<uint32_t, change::TableDef> current_;  // the definition staged changes use
  std::map<uint32_t, Stage*> open_stages_;
  std::vector<std::unique_ptr<Step>> steps_;
  int64_t pending_changes_ = 0;
  int64_t next_stage_ = 0;
  int64_t next_rid_ = 0;
  int merge_parts_ = 1;  // keyed merges of this attempt run in this many parts
  int fault_out_of_memory_below_parts_ = 0;
};

}  // namespace walden::mirror
