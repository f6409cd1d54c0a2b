// The archive sink: committed transactions in, Parquet segments and manifest commits out,
// with the archive watermark committed together with the data (design §2, §3).
//
// Exactly once: a transaction whose commit LSN is at or below the archive's watermark was
// archived before (walden restarted) and is skipped. Changes wait in the spool until a
// flush (every `flush_interval` or `flush_size`, and at shutdown) uploads the segments and
// writes one manifest commit whose watermark is the last transaction spooled. Only then is
// that transaction durable for the archive.
//
// Flushes run on their own thread (FlushIfDue starts one and later adopts its outcome), so
// Parquet encoding and uploads never hold up the caller's loop: the spool's generation is
// sealed at the start, new changes go into the next one, and the durable watermark moves
// to the sealed one's only when its manifest commit is written. A failed flush keeps its
// sealed generation and is tried again (kConnection: the store is away) without mixing in
// later changes. Flush() waits for everything. Every table definition changes are written
// with is recorded under `_walden/schemas/` (see DefinitionKey) before the commit that
// first uses it, so the archive alone can rebuild a mirror. Thread-safety: one thread.
#pragma once

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "archive/lease_keeper.h"
#include "archive/manifest.h"
#include "archive/segment_writer.h"
#include "change/change.h"
#include "common/histogram.h"
#include "pipeline/canary.h"
#include "pipeline/sink.h"
#include "pipeline/toast_cache.h"
#include "store/object_store.h"

namespace walden::pipeline {

// "_walden/schemas/<schema>/<table>/<first commit LSN, 16 hex digits>.json": the definition
// (change::TableDefToJson) the table's changes use from that commit on.
std::string DefinitionKey(const QualifiedName& table, Lsn first_lsn);
// The archive's view of a relation version: its name, columns and types.
archive::TableSchema TableSchemaOf(const change::TableDef& table);
inline constexpr std::string_view kDefinitionPrefix = "_walden/schemas/";

struct ArchiveSinkOptions {
  std::string spool_path;              // DuckDB file for the spool
  std::string scratch_dir;             // Parquet files before upload
  std::string memory_limit = "128MB";  // archive.spool_memory_limit's default
  std::chrono::microseconds flush_interval{10000000};
  int64_t flush_size = int64_t{64} << 20;
  std::string lease_owner;
};

class ArchiveSink final : public Sink {
 public:
  static Result<std::unique_ptr<ArchiveSink>> Open(store::ObjectStore& store,
                                                   ArchiveSinkOptions options);
  ~ArchiveSink() override;  // waits for a flush in flight (it uses the sink's spool and store)

  std::string_view name() const override { return "archive"; }

  // Everything up to and including this end LSN is durable in the archive.
  Lsn durable_end() const override { return durable_.end_lsn; }
  const archive::ArchiveState& state() const { return state_; }
  int64_t last_flush() const { return last_flush_; }  // µs since 1970; 0: none yet
  // Commit→durable in the archive per transaction with rows, and flush durations.
  Histogram& latency() { return latency_; }
  Histogram& flush_duration() { return flush_duration_; }

  bool Begin(const change::TransactionInfo& txn) override;
  Status Add(const change::Change& change) override;
  void Commit() override;
  // Bulk rows (`r` changes of one transaction) skip the spool: another thread writes them
  // straight into a segment file (archive::WriteQuerySegment, through a connection from
  // OpenSegmentWriter, under scratch_dir()), and AddSegment makes the file part of the
  // next flush like spooled changes. The file stays at its local path until that flush.
  // A transaction archived before a restart is skipped (AddSegment removes its file).
  Result<duck::Connection> OpenSegmentWriter() {
    return duck::Connection::Open(spool_->database());
  }
  const std::string& scratch_dir() const { return options_.scratch_dir; }
  Status AddSegment(const change::TransactionInfo& info,
                    const std::shared_ptr<const change::TableDef>& table, archive::SegmentFile file,
                    int64_t source_bytes);
  // DuckDB's worker threads for the spool and segment writing (0: one per core);
  // kFlushThreads while streaming.
  static constexpr int kFlushThreads = 1;
  Status SetThreads(int threads) { return spool_->SetThreads(threads); }
  // Heartbeats a flush made durable (or that needed none) since the last call.
  CanaryRelay& canaries() override { return canaries_; }
  // The interval or the size says flush (FlushIfDue would start one now).
  bool FlushDue() const;
  // Adopts a finished flush (its error, if it failed), retries a failed one after a pause,
  // starts one when due. Never waits for the store.
  Status FlushIfDue() override;
  bool Due() const override;
  // Everything spooled so far is durable when it returns (or why not).
  Status Flush() override { return FlushBy(std::nullopt); }
  // The same, but past `deadline` the store is interrupted: the flush then fails with
  // kConnection and its changes stay unconfirmed in the slot (for a stop that must not
  // wait on an unreachable store).
  Status FlushBy(std::optional<std::chrono::steady_clock::time_point> deadline);
  bool flushing() const { return job_ != nullptr; }
  // What renewing the single-writer lease ran into since the last call (LeaseKeeper renews
  // it on a thread of its own, so a busy run loop never lets it lapse).
  Status LeaseStatus();

 private:
  ArchiveSink(store::ObjectStore& store, ArchiveSinkOptions options)
      : store_(store), manifest_(store), options_(std::move(options)) {}
  // A flush: what it writes, what it makes durable, and its outcome (the archive's state
  // after its commit) once the worker is done.
  struct FlushJob {
    archive::SealedSpool tables;
    std::vector<archive::SegmentFile> ready;
    std::map<std::string, std::string> definitions;  // key → JSON, written before the commit
    archive::Watermark watermark;
    std::vector<int64_t> commit_times;
    size_t canaries = 0;
    int64_t rows = 0;
    std::chrono::steady_clock::time_point started;
    std::future<Result<std::pair<archive::ArchiveState, size_t>>> outcome;  // state, files
  };
  Status StartFlush();
  void Launch();
  // Runs on the worker thread: touches only the job, the spool's database through its own
  // connection, the store and the manifest.
  Result<std::pair<archive::ArchiveState, size_t>> RunFlush(const FlushJob& job,
                                                            archive::ArchiveState state);
  // Takes the outcome of the flush in flight (waiting for it when `wait`).
  Status Collect(bool wait);
  // A truncate, or a copy starting over: one row per table, its columns NULL.
  Status AppendRestart(const change::Change& change);
  // Table definitions are immutable: their archive schema is built, and their definition
  // recorded, once (`commit_lsn`: of the first change using it).
  const archive::TableSchema& SchemaOf(const std::shared_ptr<const change::TableDef>& table,
                                       Lsn commit_lsn);
  // Local paths of the table's archived files (downloaded first from a remote store), each
  // checked against its commit's size and checksum once per run (`checked_`: their keys).
  Result<std::vector<std::string>> HistoryFiles(const QualifiedName& table);
  Status FillUnchanged(const change::TableDef& table, const archive::TableSchema& schema,
                       const archive::ArchiveChange& out);
  // Keeps the row's TOAST-able values for later unchanged markers of its key, and fills
  // the row's own markers from earlier values; false when some stayed unknown (true when
  // the row has none).
  bool RememberValues(const change::Change& change, change::Row& row);
  // Records a table definition when it differs from the last one recorded for its table.
  void NoteDefinition(const change::TableDef& table, Lsn commit_lsn);
  Status LoadDefinitions();
  // Bookkeeping after a transaction was spooled (`added`: it spooled rows).
  void Spooled(const change::TransactionInfo& info, bool added);

  store::ObjectStore& store_;
  archive::Manifest manifest_;
  std::unique_ptr<archive::LeaseKeeper> lease_keeper_;  // after manifest_: it uses it
  ArchiveSinkOptions options_;
  std::unique_ptr<archive::Spool> spool_;
  std::vector<archive::SegmentFile> ready_;  // bulk segments waiting for the next flush
  int64_t pending_rows() const {
    int64_t rows = spool_->rows();
    for (const archive::SegmentFile& file : ready_) rows += file.rows;
    return rows;
  }
  archive::ArchiveState state_;
  archive::Watermark durable_;  // committed (or nothing pending)
  archive::Watermark pending_;  // last transaction spooled
  int64_t pending_bytes_ = 0;
  int64_t last_flush_ = 0;
  CanaryRelay canaries_;
  std::vector<int64_t> pending_commit_times_;  // µs since 1970, transactions with rows
  Histogram latency_;
  Histogram flush_duration_;
  std::chrono::steady_clock::time_point first_pending_{};
  std::chrono::steady_clock::duration last_cost_{};  // of the last flush
  std::map<std::shared_ptr<const change::TableDef>, archive::TableSchema> schemas_;
  change::TransactionInfo txn_;  // the one between Begin and Commit
  int64_t rows_before_ = 0;
  ToastCache toast_{size_t{64} << 20};
  std::set<QualifiedName> toasted_;  // tables PostgreSQL sent an unchanged marker of this run
  std::set<std::string> checked_;
  // The last definition recorded per table name, and records waiting for the next flush.
  std::map<QualifiedName, change::TableDef> recorded_;
  std::map<std::string, std::string> pending_definitions_;  // key → JSON
  std::unique_ptr<FlushJob> job_;  // in flight, or failed and waiting for retry_at_
  std::chrono::steady_clock::time_point retry_at_{};
};

}  // namespace walden::pipeline
