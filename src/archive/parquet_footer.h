// The one Parquet footer edit walden needs for ranged reads of a remote archive: keep only
// some row groups in a file's metadata (Thrift compact protocol, parquet-format's
// FileMetaData), so that a local copy holding only those row groups' bytes is a valid
// Parquet file DuckDB reads without ever touching the bytes that were not fetched.
//
// Every other field is copied byte for byte; only `num_rows` (field 3) and the list of row
// groups (field 4) are rewritten. Input is untrusted bytes: every read is bounds-checked and
// nesting is limited, a malformed footer is a kProtocol error, never a crash.
// Why not libthrift: it would bring a library for a ~100-line generic skip; the schema is
// not needed (fields are copied, not interpreted).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace walden::archive {

// The serialized FileMetaData with only the row groups at `keep` (ascending indexes into
// the file's row groups), and num_rows their sum. An index past the last row group is an
// error.
Result<std::string> KeepRowGroups(std::string_view file_metadata, const std::vector<size_t>& keep);

// How many row groups a serialized FileMetaData lists.
Result<size_t> CountRowGroups(std::string_view file_metadata);

}  // namespace walden::archive
