// Archive upkeep: orphan collection and compaction (design §3).
//
// Orphans are data files no live manifest commit names: uploads of a flush that crashed
// before its commit, and files a compaction replaced. They are deleted once older than the
// grace period (readers that listed them a moment ago may still be reading), or at once
// by the lease holder at start, when no flush of its own is in flight.
//
// Compaction rewrites each table-day's small files into files of about the target size and
// replaces them in one manifest commit. Killed anywhere, it leaves readers of the manifest
// with every change exactly once: before the commit the old files are live and the new ones
// orphans; after it, the reverse. Thread-safety: callers hold the archive lease.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "archive/manifest.h"
#include "store/object_store.h"

namespace walden::archive {

struct OrphanReport {
  std::vector<std::string> deleted;      // retired by a commit: deleted
  std::vector<std::string> quarantined;  // named by no commit: moved under kQuarantinePrefix
  std::vector<std::string> too_young;
};

inline constexpr std::string_view kQuarantinePrefix = "_walden/quarantine/";

// Files under tables/ that no live file is, older than `grace`. A file a commit retired
// (compaction replaced it) is deleted. A file no commit ever named is what a flush killed
// between upload and commit leaves, or what remains of a commit that was lost: it is never
// deleted on that inference alone, but moved to _walden/quarantine/<key>, where
// `walden archive verify` lists it and the operator decides.
Result<OrphanReport> CollectOrphans(store::ObjectStore& store, const ArchiveState& state,
                                    std::chrono::microseconds grace);

struct CompactionOptions {
  int64_t target_bytes = int64_t{128} << 20;
  std::string work_dir;  // local scratch space for downloads and the merged files
};

struct CompactionReport {
  int files_in = 0;
  int files_out = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

Result<CompactionReport> Compact(store::ObjectStore& store, Manifest& manifest, ArchiveState& state,
                                 const CompactionOptions& options);

// The stored object at `path` (store::LocalPath) is the file its commit names: same size,
// and the same SHA-256 when the commit recorded one. A kIo error names the file and the
// way to recover otherwise.
Status CheckFile(const SegmentFile& file, const std::string& path);

struct VerifyReport {
  uint64_t commits = 0;
  size_t files = 0;
  int64_t bytes = 0;
  size_t without_checksum = 0;           // named by commits of a walden that recorded none
  std::vector<std::string> problems;     // one line each: what, and how to recover
  std::vector<std::string> quarantined;  // keys under kQuarantinePrefix
};

// Every live file checked (CheckFile; remote files are downloaded into `cache_dir`), and
// what lies in quarantine. The manifest itself was checked by Manifest::Load.
Result<VerifyReport> Verify(store::ObjectStore& store, const ArchiveState& state,
                            const std::string& cache_dir);

}  // namespace walden::archive
