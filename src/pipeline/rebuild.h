// `walden mirror rebuild`: recreates the mirror from the archive alone (design §3, §4).
//
// Deterministic: the manifest names the live files and the watermark; the table
// definitions recorded beside them (`_walden/schemas/`) say which columns, keys and schema
// steps apply from which commit on. Each table's history is replayed per definition period
// with the mirror's own set-based merge (only the changes after a table's last TRUNCATE
// matter), and the result is committed with the archive's watermark, so streaming goes on
// from there. The new file is built beside the old one and replaces it only when complete.
// Thread-safety: one caller; the data directory must not be in use by `walden run`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "common/lsn.h"
#include "query/history.h"
#include "query/query.h"
#include "store/object_store.h"

namespace walden::pipeline {

struct RebuildResult {
  int64_t tables = 0;
  int64_t changes = 0;
  Lsn watermark;
};

// What to rebuild: everything (`walden mirror rebuild`), or one table as of a commit
// (`walden history --as-of`, time travel).
struct RebuildScope {
  std::optional<QualifiedName> table;  // only this table
  std::optional<Lsn> until_lsn;        // only commits at or before this LSN
  // Only commits at or before this time (text DuckDB casts to TIMESTAMPTZ).
  std::optional<std::string> until_time;
  // The building database's DuckDB limits (MirrorOptions): lower for a rebuild beside a
  // running walden (verify).
  std::string memory_limit = "512MB";
  int threads = 0;
};

// `scratch_dir` holds downloaded files when the archive is remote.
Result<RebuildResult> RebuildMirror(store::ObjectStore& store, const std::string& mirror_path,
                                    const std::string& scratch_dir, const RebuildScope& scope = {});

// One table rebuilt at a point (time or LSN text), with its own store connection, one thread
// and 256 MB (beside a running walden); downloads go to a folder beside the file. For
// walden_as_of(…) in queries and for `walden verify --archive`.
query::AsOfRebuild AsOfRebuilder(const Config& config);

}  // namespace walden::pipeline
