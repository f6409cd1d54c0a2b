// Internal to verify: one table compared with the source, against the mirror (Keyed,
// Keyless: chunked, online) or against any other DuckDB table of the same layout (the
// archive's rebuilt state, archive_check.cc), with the reads, loads and compares both use.
// Thread-safety: one thread; the connections are the caller's for the check's lifetime.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "change/table_def.h"
#include "common/lsn.h"
#include "duck/duckdb.h"
#include "pg/connection.h"
#include "snapshot/source.h"
#include "verify/verify.h"

namespace walden::verify {

using Clock = std::chrono::steady_clock;
using Tuple = pg::pgoutput::Tuple;
inline constexpr int kRounds = 3;
inline constexpr size_t kVersion = 2;  // xmin and ctid come first in every row read

// A read of the source: rows (xmin, ctid, then the table's columns), and the WAL insert
// position after its snapshot was taken (every commit it saw lies before it).
struct Read {
  std::vector<Tuple> rows;
  Lsn lsn;
};

// Key values as DuckDB prints them (one per key column); NULL as nullopt.
using KeyValues = std::vector<std::optional<std::string>>;

class TableCheck {
 public:
  TableCheck(pg::Connection& pg, duck::Connection& duck, const Options& options,
             change::TableDef def, snapshot::SourceTable source);

  Status Keyed(const std::function<void(const ChunkReport&)>& report);
  Status Keyless(const std::function<void(const ChunkReport&)>& report);

  // Runs `body` in a REPEATABLE READ snapshot of the source and returns the WAL insert
  // position read after the snapshot was taken; then commits a logical message, so that the
  // sinks' watermarks pass that position even on an idle source.
  Result<Lsn> InSnapshot(const std::function<Status()>& body);
  // Appends the versioned rows `select` returns (COPY; inside InSnapshot's body).
  Status ReadRows(const std::string& select, std::vector<Tuple>& rows) {
    return snapshot::ReadCopyText(pg_, select, versioned_.relation.columns.size(), rows);
  }
  // `width`: the columns `select` returns (default: the versioned row).
  Result<Read> ReadSource(const std::string& select, size_t width = 0);
  // Loads rows into temp.verify_src (typed like the mirror's columns, plus _v: the row
  // version and _k: the key as text), replacing what was there unless `append`.
  Status Load(const std::vector<Tuple>& rows, bool append = false);
  // Keys (as _k text) whose row in the compared table differs from temp.verify_src's.
  Result<std::map<std::string, DiffKind>> Compare();
  // Rows of temp.verify_src and of the compared table that the other lacks, as multisets.
  Result<int64_t> CountDifferent();
  // The table compared with the source: the mirror's (default) or another of its layout.
  void CompareWith(std::string table_sql) { other_ = std::move(table_sql); }
  const std::string& other() const { return other_; }
  std::string Key(const Tuple& row) const;
  std::string Version(const Tuple& row) const {
    return std::string(row.Data(0)) + "/" + std::string(row.Data(1));
  }
  // The key columns as the mirror names them (`mirror`) or as verify_src does (c<i>).
  std::string KeyColumns(const std::string& prefix, bool mirror) const;
  // "id=17, region=eu" for key values read from DuckDB.
  std::string Display(const KeyValues& key) const;
  // SQL that is true for the rows (of the source, or of a DuckDB table when `duckdb`)
  // whose key is one of `keys`, compared as values of the columns' types.
  std::string KeyIn(const std::vector<KeyValues>& keys, bool duckdb) const;
  // The versioned select of the source table's rows matching `where`.
  std::string SelectWhere(const std::string& where) const;
  const change::TableDef& def() const { return def_; }
  const snapshot::SourceTable& versioned() const { return versioned_; }
  // Rests `factor` times what the work since `started` took (the stream comes first), in
  // short steps so that a stop is noticed.
  void Pause(Clock::time_point started) const;
  bool Cancelled() const { return options_.cancelled && options_.cancelled(); }

 private:
  Status WaitForMirror(Lsn lsn);
  std::map<std::string, std::string> Versions(const std::vector<Tuple>& rows) const;
  // Confirms, rechecks or leaves unsettled the keys of `diff` (from `first`'s compare).
  Status Settle(const std::string& select, Read first, std::map<std::string, DiffKind> diff,
                ChunkReport& out);
  Status OnlyInMirror(ChunkReport& out);
  // Which of `keys` (DuckDB text forms of the key columns) the source has, by index.
  Result<std::pair<std::set<size_t>, Lsn>> SourceHas(const std::vector<KeyValues>& keys);

  pg::Connection& pg_;
  duck::Connection& duck_;
  const Options& options_;
  change::TableDef def_;
  snapshot::SourceTable versioned_;  // the source table with xmin and ctid in front
  std::string other_;
};

// A key read from DuckDB as a repair key (ChunkReport::repair_keys).
std::vector<std::string> RepairKey(const KeyValues& key);

// "verify was stopped: …", the error of a cancelled verify.
Error Stopped();

}  // namespace walden::verify
