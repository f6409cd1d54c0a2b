// A snapshot job: which tables are read, cut into which chunks, and how far each got. Kept
// in `<data_dir>/snapshot.json` (written atomically) so that a restart resumes instead of
// starting over.
//
// Exactly once: a chunk's rows go to the sinks inside one source transaction (its high
// watermark's, or a made-up one below the slot's consistent point for the initial load);
// the job records that transaction's commit LSN before the sinks see it. After a restart,
// deliveries above the sinks' common watermark did not reach every sink and are read again
// (`Reconcile`); those at or below it are done. Thread-safety: plain values.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/lsn.h"
#include "snapshot/source.h"

namespace walden::snapshot {

struct TableJob {
  QualifiedName name;
  bool by_ctid = false;  // no key: read whole (online) or by ctid pages (initial load)
  // The mirror copy starts over at the first chunk's low watermark (online snapshots).
  bool reset = false;
  uint64_t reset_at = 0;  // commit LSN the reset went out with; 0: not yet
  // Planned chunks keep their bounds; online chunks of keyed tables grow one at a time
  // (the next starts after the last key read).
  std::vector<Chunk> chunks;
  bool planned = false;
  bool read_all = false;  // the last chunk is delivered
  int64_t estimated_rows = 0;
  // Set: a repair of these keys only (their key columns' text forms, in key order), read in
  // one planned chunk without a reset; a key the source no longer has is delivered as a
  // delete (walden verify --repair).
  std::vector<std::vector<std::string>> keys;

  int64_t rows() const;
  // Commit LSN of the last delivery (reset or chunk); 0: none.
  uint64_t last_delivery() const;
};

struct Job {
  std::string id;
  std::string reason;           // initial, request, resync, new table, rewrite
  uint64_t consistent_lsn = 0;  // initial load: the slot's consistent point
  std::vector<TableJob> tables;

  TableJob* Find(const QualifiedName& name);
};

std::string JobToJson(const Job& job);
Result<Job> JobFromJson(std::string_view text);
// nullopt when there is no job file.
Result<std::optional<Job>> LoadJob(const std::string& path);
Status SaveJob(const std::string& path, const Job& job);

// Forgets every delivery above `durable`: those chunks (and their resets) are read again.
// A table without key that lost part of its initial load is read again whole.
void Reconcile(Job& job, Lsn durable);

}  // namespace walden::snapshot
