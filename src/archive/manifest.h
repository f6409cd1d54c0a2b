// The archive's manifest (design §3): a numbered commit object per archive flush under
// `_walden/commits/<20-digit sequence>.json`. A data file exists for readers only once a
// commit names it; a later commit may remove files (compaction). The archive watermark
// (commit LSN and end LSN of the last transaction archived) is written inside each commit,
// so data and watermark become durable together.
//
// One writer per archive: `AcquireLease` writes `_walden/lease.json` and refuses while
// another live writer holds it (a holder on this host whose process died is not live).
// Thread-safety: not thread-safe; one owner (except AcquireLease, see there).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "archive/segment_writer.h"
#include "common/error.h"
#include "common/lsn.h"
#include "store/object_store.h"

namespace walden::archive {

struct Watermark {
  Lsn commit_lsn;
  Lsn end_lsn;
  friend bool operator==(const Watermark&, const Watermark&) = default;
};

struct ManifestCommit {
  uint64_t sequence = 0;
  Watermark watermark;
  std::vector<SegmentFile> added;  // local_path is not stored
  std::vector<std::string> removed;
  int64_t created_at = 0;  // µs since 1970
};

// The folded state of all commits.
struct ArchiveState {
  uint64_t last_sequence = 0;
  Watermark watermark;
  std::map<std::string, SegmentFile> live;  // by key
  std::set<std::string> retired;            // keys a commit removed (compaction's inputs)
  // The newest commit object when it holds only the start of a commit: a PUT cut short by a
  // crash, on a store that shows objects before they are complete (s3rver does). Its writer
  // never heard it succeed, so confirmed nothing past it: it is not part of the archive,
  // and the next commit is written over it.
  std::string cut_short;
};

class Manifest {
 public:
  explicit Manifest(store::ObjectStore& store) : store_(store) {}

  // Reads every commit in order. A commit that does not parse is an error that names it,
  // except the newest one when it is the beginning of a commit (ArchiveState::cut_short).
  Result<ArchiveState> Load();
  // Writes the next commit after `state` and folds it into `state`. At its key it may find
  // the same commit (a retry whose earlier answer was lost: adopted) or the start of one (a
  // PUT cut short: written again); any other object there is another writer's, an error.
  Status Commit(ArchiveState& state, const Watermark& watermark, std::vector<SegmentFile> added,
                std::vector<std::string> removed = {});

  // Takes the single-writer lease for `ttl`, or fails with who holds it. Touches only the
  // store: safe to call while another thread uses this Manifest (LeaseKeeper does).
  Status AcquireLease(const std::string& owner, std::chrono::seconds ttl);
  Status ReleaseLease(const std::string& owner);

  static std::string CommitKey(uint64_t sequence);
  static std::string ToJson(const ManifestCommit& commit);
  static Result<ManifestCommit> FromJson(std::string_view json, std::string_view key);

 private:
  store::ObjectStore& store_;
};

}  // namespace walden::archive
