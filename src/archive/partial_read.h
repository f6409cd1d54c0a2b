// Ranged reads of an archived file (design §13, "S3 archives are read with ranged GETs"):
// a local copy of a segment that holds only some of its row groups, made from GETs of just
// their bytes, the magic and the footer, each checked against the SHA-256 the manifest
// recorded for it (SegmentFile::row_groups, footer_sha256).
//
// The copy keeps every fetched byte at its original offset (the gaps are holes of a sparse
// file) and appends a rewritten footer listing only the fetched row groups (KeepRowGroups):
// DuckDB reads it as a valid Parquet file and never reaches a byte that was not fetched.
// Thread-safety: plain functions; concurrent fetches of the same copy each write their own
// temporary file and rename it into place (same bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/segment_writer.h"
#include "common/error.h"
#include "store/object_store.h"

namespace walden::archive {

struct ByteRange {
  int64_t offset = 0;
  int64_t length = 0;
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

// What a copy of `file` with the row groups `groups` (ascending indexes) is made of, adjacent
// ranges merged: one GET each.
std::vector<ByteRange> RangesFor(const SegmentFile& file, const std::vector<size_t>& groups);

// The local copy's path under `cache_dir` ("<key>.rg-1.2.parquet").
std::string PartialCopyPath(const std::string& cache_dir, const SegmentFile& file,
                            const std::vector<size_t>& groups);

// The copy at PartialCopyPath: reused when it exists and still checks out (else fetched
// again), or fetched, checked and renamed into place. A range that does not match its checksum
// is a kIo error naming the file and the way to recover.
Result<std::string> FetchRowGroups(store::ObjectStore& store, const SegmentFile& file,
                                   const std::vector<size_t>& groups, const std::string& cache_dir);

// Checks a copy: every fetched range against the manifest, and its footer against the one
// rewritten from the original.
Status CheckPartialCopy(const SegmentFile& file, const std::vector<size_t>& groups,
                        const std::string& path);

}  // namespace walden::archive
