// Online snapshots while streaming (design §5, DBLog's watermark method with transactional
// logical messages, no signal table).
//
// Per chunk (key range, key order): commit a low watermark message, read the chunk, commit
// a high watermark message. `Observe` sees every streamed transaction before the sinks do:
// between the two watermarks, and before them for transactions the read's snapshot does not
// include (a commit becomes visible a moment after its commit record), it drops from the
// chunk every key a change touched (the stream carries those rows' newer state); at the high
// watermark it appends the rest as `r` rows to that transaction, so each sink applies them exactly
// once with it. A table's first chunk also starts a new copy of it (kRefillStart at its low
// watermark: the mirror fills it beside the old one, which stays queryable), so rows deleted while
// walden was not looking vanish; the last chunk's delivery swaps the new copy in (kRefillDone).
//
// Tables without a key cannot drop touched rows (identical rows are interchangeable), so a
// whole-table read is placed by its snapshot instead: every transaction the read's snapshot
// includes comes before the first one it does not include, and the read (with a reset of
// walden's copy) is put right before that transaction's changes, or at the high watermark.
// No lock, and no retries under steady writes.
//
// Thread-safety: one thread (the run loop) drives it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/error.h"
#include "common/lsn.h"
#include "pg/assembler.h"
#include "pg/connection.h"
#include "snapshot/job.h"

namespace walden::snapshot {

inline constexpr std::string_view kSnapshotPrefix = "walden_snapshot";

// Which transactions a read's snapshot includes, from pg_current_snapshot()'s text
// ("xmin:xmax:xip,…"). Compared by 32-bit xid, as pgoutput sends them: the transactions
// asked about are recent, so the epoch does not matter.
struct ReadSnapshot {
  uint32_t xmax = 0;
  std::unordered_set<uint32_t> in_progress;
  bool Includes(uint32_t xid) const {
    return !in_progress.contains(xid) && static_cast<int32_t>(xid - xmax) < 0;
  }
};
Result<ReadSnapshot> ParseSnapshot(const std::string& text);

struct OnlineOptions {
  std::string conninfo;
  std::string job_path;  // <data_dir>/snapshot.json
  int64_t chunk_rows = 100000;
};

struct TableProgress {
  QualifiedName name;
  int64_t rows = 0;  // delivered so far
  int64_t estimated_rows = 0;
  size_t chunks_delivered = 0;
  size_t chunks = 0;  // known so far (online chunks of keyed tables appear one by one)
};
struct Progress {
  std::string job;  // empty: no snapshot running
  std::string reason;
  std::vector<TableProgress> tables;
  std::vector<std::string> finished;  // jobs this process finished lately, oldest first
};

class OnlineSnapshot {
 public:
  // Loads the job file, if any, and forgets deliveries above `durable` (Reconcile).
  static Result<std::unique_ptr<OnlineSnapshot>> Open(OnlineOptions options, Lsn durable);
  ~OnlineSnapshot();

  // Queues tables (a table already queued stays where it is).
  Status Request(const std::vector<QualifiedName>& tables, const std::string& reason);
  // Queues a repair of these keys of a keyed table (TableJob::keys): their rows are read
  // between watermarks like a chunk and delivered as reads, the keys the source no longer
  // has as deletes. Nothing is queued when the table is already in the job.
  Status RequestKeys(const QualifiedName& table, std::vector<std::vector<std::string>> keys,
                     const std::string& reason);
  bool active() const { return job_.has_value(); }
  bool Queued(const QualifiedName& table) const;

  // When no chunk is in flight and work remains: low watermark, read, high watermark.
  Status Tick();
  // Every streamed transaction, in commit order, before the sinks apply it.
  Status Observe(pg::CommittedTransaction& txn);
  // Tables whose deliveries are all durable are done and leave the job.
  Status Durable(Lsn durable);
  Progress progress() const;

 private:
  struct InFlight;
  OnlineSnapshot(OnlineOptions options, pg::Connection conn);
  Status Emit(const std::string& content);
  Status Save() { return SaveJob(options_.job_path, *job_); }
  // Reads the chunk in a transaction whose snapshot says which transactions it includes.
  Status Read(InFlight& flight, const TableJob& table, const Chunk& chunk);
  // A key repair's read: the rows of its keys, and delete images of the keys without one.
  Status ReadKeys(InFlight& flight, const TableJob& table);
  // Whether `change` concerns the table in flight; drops the keys it touches from the read
  // when it is in the window or `unseen` (its transaction is not in the read's snapshot).
  bool Touch(const pg::Change& change, bool unseen);
  // Adds the read to `txn`: before its changes, or after them (at the high watermark).
  void Deliver(pg::CommittedTransaction& txn, bool before);

  OnlineOptions options_;
  pg::Connection conn_;
  pg::RelationCache relations_;
  std::optional<Job> job_;
  std::vector<std::string> finished_;
  std::unique_ptr<InFlight> flight_;
};

// "public.orders" style names for a job request, from selectors of the CLI.
std::string NewJobId();

}  // namespace walden::snapshot
