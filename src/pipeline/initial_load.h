// The initial load (design §5): when `snapshot.mode = initial`, the slot does not exist yet
// and both sinks are new, the slot is created with an exported snapshot and every published
// table is read at its consistent point by `snapshot.workers` connections in parallel,
// chunk by chunk, into the archive (op `r`) and the mirror; streaming then starts at the
// consistent point.
//
// Each chunk goes to the sinks as one made-up transaction whose commit LSN lies just below
// the consistent point (one per chunk, in delivery order), so the sinks' ordinary
// watermarks make every chunk exactly-once; the job file (snapshot/job.h) records which
// chunk got which LSN. A crash loses the exported snapshot: the chunks not yet durable in
// both sinks are then read by the online method while streaming (snapshot/online.h).
// Thread-safety: runs on the calling thread (readers are internal).
#pragma once

#include "common/config.h"
#include "common/error.h"
#include "pipeline/archive_sink.h"
#include "pipeline/mirror_sink.h"

namespace walden::pipeline {

std::string SnapshotJobPath(const std::string& data_dir);
// Where readers put chunks as CSV files for the fast path (removed by the load, and at
// every start: a killed load leaves them).
std::string SnapshotChunksDir(const std::string& data_dir);

// Whether a slot of this name exists on the source.
Result<bool> SlotExists(const Config& config);

// Runs the load described above; the caller checked that it is due.
Status InitialLoad(const Config& config, ArchiveSink& archive, MirrorSink& mirror);

// Flushes the archive after merging the mirror, so that the mirror's watermark is never
// behind the archive's: a snapshot chunk durable in the archive is then durable in both.
Status FlushBoth(ArchiveSink& archive, MirrorSink& mirror);

}  // namespace walden::pipeline
