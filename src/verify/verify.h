// `walden verify` (issue #21): whether the mirror (or the archive, Options::archive) holds
// exactly the source's rows, checked online, without stopping the stream or touching the
// sinks.
//
// Per chunk of a keyed table (key order, like an online snapshot): read the rows with their
// row versions (xmin, ctid) in a REPEATABLE READ snapshot and note the WAL insert position L
// after it; wait until the mirror has merged past L (every commit the snapshot saw is then
// in the mirror); compare typed rows (the same parsing a snapshot uses, so equal means "a
// re-snapshot would write the same row"). A key that differs is a real difference only if
// its row version is the same in a second read taken after the mirror's: then no commit
// touched it between the two reads, and the mirror, which had every commit before the
// first, must show the first read's row. Keys that changed meanwhile are compared again (up
// to three rounds) and otherwise reported as unsettled, never as different. Rows only the
// mirror has are found per table (mirror keys no read saw), then confirmed absent from the
// source twice around a mirror check. Tables without key (REPLICA IDENTITY FULL) compare as
// multisets, confirmed when no row version changed between two reads.
//
// Thread-safety: one call uses its own connections; calls may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "common/lsn.h"
#include "duck/duckdb.h"

namespace walden::verify {

enum class Outcome { kEqual, kDifferent, kSkipped };
std::string_view OutcomeName(Outcome outcome);  // "equal", "different", "skipped"

// What the source is compared with.
enum class Target { kMirror, kArchive };
std::string_view TargetName(Target target);  // "mirror", "archive"

enum class DiffKind { kDiffers, kMissingInMirror, kOnlyInMirror };
// "differs", "missing in the mirror", "only in the archive", …
std::string DiffKindName(DiffKind kind, Target target = Target::kMirror);

struct Difference {
  std::string key;  // "id=17" (column=value, PostgreSQL's text forms)
  DiffKind kind = DiffKind::kDiffers;
};

struct ChunkReport {
  QualifiedName table;
  Target target = Target::kMirror;
  int chunk = 0;                    // 1-based; 0: the table's check for rows only the mirror has
  std::string first_key, last_key;  // of the source rows read (keyed tables)
  int64_t rows = 0;                 // source rows compared
  Outcome outcome = Outcome::kEqual;
  int64_t different = 0;                // rows found different
  std::vector<Difference> differences;  // the first kListed of them
  int64_t unsettled = 0;                // keys that kept changing in every round: left out
  std::string note;                     // why it was skipped
  // Every key found different (its columns' text forms, in key order), for --repair, which
  // re-reads just these keys; kept up to kRepairKeys (more: the whole table is re-read).
  std::vector<std::vector<std::string>> repair_keys;
  static constexpr size_t kListed = 10;
  static constexpr size_t kRepairKeys = 100000;
};

// An archive verify's way to the archive (Options::archive), given by walden run.
struct ArchiveAccess {
  // The end LSN up to which every commit is durable in the archive.
  std::function<Lsn()> durable;
  // Rebuilds `table` as of commit LSN `until` from the archive alone into a new DuckDB
  // file at `path` (the mirror's layout; pipeline::RebuildMirror).
  std::function<Status(const QualifiedName& table, Lsn until, const std::string& path)> rebuild;
  std::string scratch_dir;  // this verify's own folder (the source's copy, the rebuilt files)
  // Longest wait for the archive to make what a read saw durable (a flush interval or two).
  std::chrono::milliseconds durable_timeout{std::chrono::minutes(2)};
};

struct Options {
  std::string conninfo;  // the source
  // Small chunks keep each burst of work (a COPY, a compare) short beside the merges.
  int64_t chunk_rows = 1000;  // measured: 5,000 moved commit→mirror p99 by 1.8× at 5,000 changes/s
  // Longest wait for the mirror to merge what a read saw.
  std::chrono::milliseconds catch_up_timeout{std::chrono::seconds(60)};
  std::function<bool()> cancelled;  // asked between steps
  // After each chunk, a pause of this many times what the chunk took, so that the merges
  // and the source keep most of the machine (3: verify works a quarter of the time).
  int pause = 3;
  // Set: the archive is compared with the source instead of the mirror. Per table, the
  // whole source table is read in one snapshot, the table's state at that snapshot's WAL
  // position is rebuilt from the archive (what `walden mirror rebuild` would make of it),
  // and the two are compared; a difference counts when the key differs again in the next
  // round (a re-read of the differing keys, a rebuild at the new position) with its row
  // version unchanged, as for the mirror. Keyless tables compare as multisets.
  const ArchiveAccess* archive = nullptr;
};

// Verifies `tables` (empty: every table the mirror follows) of the mirror in `mirror` (its
// default catalog) against the source, calling `report` for each chunk in order. Fails on
// errors (source or mirror unreachable, cancelled); differences are reports, not errors.
Status Verify(duck::Database& mirror, const std::vector<QualifiedName>& tables,
              const Options& options, const std::function<void(const ChunkReport&)>& report);

// One line for people: "public.t chunk 2 (id 20001..40000): 20000 rows, different: id=17 differs".
std::string ReportText(const ChunkReport& report);
// One JSON object (no newline).
std::string ReportJson(const ChunkReport& report);

}  // namespace walden::verify
