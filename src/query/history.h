// History queries (design §13): which archived files a query needs, what reading them costs,
// and the views history.<schema>.<table> over exactly those files.
//
// DuckDB parses the statement (json_serialize_sql); every reference to history.<s>.<t> is
// bounded by the top-level AND-conjuncts of the WHERE of the SELECT it is read in that
// compare `_walden_commit_ts` or `_walden_lsn` with a constant expression (now() - INTERVAL
// '1 hour' included; DuckDB evaluates it), or a column with `=` to one (for the files'
// recorded key ranges). A file is read only if its commit-time and LSN
// ranges in the manifest overlap a reference's window; a reference without such a bound
// reads every file of its table (an unbounded scan, refused unless allowed). Sound by
// construction: a conjunct of the WHERE is true for every row the SELECT keeps.
// Thread-safety: plain functions; a Connection is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/manifest.h"
#include "common/error.h"
#include "common/identifiers.h"
#include "duck/duckdb.h"
#include "query/query.h"
#include "store/object_store.h"

namespace walden::query {

// Inclusive bounds on commit time (µs since 1970) and commit LSN.
struct Window {
  int64_t min_time = std::numeric_limits<int64_t>::min();
  int64_t max_time = std::numeric_limits<int64_t>::max();
  uint64_t min_lsn = 0;
  uint64_t max_lsn = std::numeric_limits<uint64_t>::max();
  // column = value conditions (values as DuckDB prints them): a file whose recorded key
  // range (archive::KeyRange) excludes the value cannot hold a matching row.
  std::map<std::string, std::string> equals;

  bool Bounded() const;
  bool Overlaps(const archive::SegmentFile& file) const;
  // A row group of `file`: commit time, LSN, and the file's key when its range is recorded.
  bool Overlaps(const archive::SegmentFile& file, const archive::RowGroupPart& group) const;
};

// Each history table `sql` reads, with one window per reference.
using HistoryReads = std::map<QualifiedName, std::vector<Window>>;
Result<HistoryReads> FindHistoryReads(duck::Connection& conn, std::string_view sql);

// Prices of reading a remote archive (config query.price_per_1000_requests, .price_per_gb).
struct Rates {
  double per_1000_requests = 0.0004;
  double per_gb = 0.09;
};

struct HistoryPlan {
  struct Table {
    QualifiedName name;
    std::vector<const archive::SegmentFile*> files;  // into the state it was planned on
    // Per file: the row groups a ranged read fetches (ascending), nullopt: the whole file.
    std::vector<std::optional<std::vector<size_t>>> row_groups;
    int64_t all_files = 0;                           // the table's live files
    bool unbounded = false;
  };
  std::vector<Table> tables;
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t requests = 0;  // GETs of a remote archive (0 for a local folder)
  int64_t row_groups = 0, all_row_groups = 0;  // of files read in part (ranged reads)
  double price = 0;      // at the rates, for a remote archive
  bool unbounded = false;

  // One line: "history: 3 of 120 files, 4.2 MB, 3 GET requests, ~$0.0004 (…)".
  std::string Preview() const;
};
// A remote archive's files are read by ranged GETs of the row groups that overlap a window
// (when the manifest records them), unless `whole_files` (readers that need every row).
HistoryPlan PlanHistory(const archive::ArchiveState& state, const HistoryReads& reads, bool remote,
                        const Rates& rates, bool whole_files = false);

// walden_as_of('schema.table', 'time or LSN') in a statement: the table's state at that
// commit time (text DuckDB casts to TIMESTAMPTZ) or LSN ('0/16B3748'). One per statement
// (one table at one point, however often it is referenced); nullopt: none.
struct AsOf {
  QualifiedName table;
  std::string at;
};
Result<std::optional<AsOf>> FindAsOf(duck::Connection& conn, std::string_view sql);

// What rebuilding `as_of` reads (the table's files up to the point), as a preview line:
// "as of <at>: history: 3 of 9 files, …".
Result<std::string> AsOfPreview(duck::Connection& planner, store::ObjectStore& store,
                                const archive::ArchiveState& state, const AsOf& as_of,
                                const Rates& rates);

// Rebuilds `as_of.table` at `as_of.at` from the archive into a new DuckDB file at `path`.
using AsOfRebuild = std::function<Status(const AsOf& as_of, const std::string& path)>;

// What a history query asks for besides its SQL (CLI flags, HTTP parameters).
struct HistoryOptions {
  bool dry_run = false;          // plan and preview only
  bool allow_full_scan = false;  // run even when a history table has no time or LSN bound
  Rates rates;
  std::string cache_dir;  // where files of a remote archive are copied for DuckDB
  int64_t cache_limit = int64_t{1} << 30;  // query.cache_size: trimmed after each fetch
  // Files used this recently are never trimmed (queries in flight read them).
  std::chrono::seconds cache_spare{std::chrono::minutes(10)};
  AsOfRebuild rebuild_as_of;  // unset: walden_as_of is refused
};

// The history views a query needs (files fetched, local paths) and its cost preview; both
// empty when it reads no history. A dry run fetches nothing. An unbounded scan without
// allow_full_scan is a kUsage error that carries the preview and the way to allow it.
struct PreparedHistory {
  std::vector<HistoryTable> tables;
  std::string preview;
};
// `planner`: a connection on the contained query database (bounds are evaluated there).
Result<PreparedHistory> PrepareHistory(duck::Connection& planner, store::ObjectStore& store,
                                       const archive::ArchiveState& state, std::string_view sql,
                                       const HistoryOptions& options);

// The archive's manifest state as history queries see it: walden run publishes each new
// commit, a stopped walden loads the manifest once per command. Thread-safety: any thread.
class ArchiveSnapshot {
 public:
  void Publish(archive::ArchiveState state);
  std::shared_ptr<const archive::ArchiveState> Current() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const archive::ArchiveState> state_ =
      std::make_shared<const archive::ArchiveState>();
};

// SQL over the mirror (`database`, options.catalog) and the history: plans the history
// reads on `state`, fetches what they need, runs the query. `preview` is empty when the
// query reads no history; a dry run answers with the preview alone.
struct Answer {
  std::string output;
  std::string preview;
};
Result<Answer> RunWithHistory(duck::Database& database, store::ObjectStore& store,
                              const archive::ArchiveState& state, const std::string& sql,
                              OutputFormat format, const HistoryOptions& history,
                              QueryOptions options);

// The HTTP header that carries the preview of a history query's answer.
inline constexpr std::string_view kPreviewHeader = "X-Walden-History";

}  // namespace walden::query
