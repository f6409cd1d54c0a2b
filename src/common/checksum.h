// SHA-256 digests as lower-case hex: S3 request signing, and the checksum the archive's
// manifest records per data file (verified on read and by `walden archive verify`).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace walden {

std::string Sha256Hex(std::string_view data);
// Reads the file in blocks; a kIo error names it when it cannot be read.
Result<std::string> Sha256OfFile(const std::string& path);
// One pass over the file: the SHA-256 of the whole file, then one of each part, the parts
// starting at the ascending offsets `starts` (the last one runs to the end of the file).
Result<std::vector<std::string>> Sha256OfFileParts(const std::string& path,
                                                   const std::vector<int64_t>& starts);
// The SHA-256 of `length` bytes from `offset` (kIo when the file is shorter).
Result<std::string> Sha256OfFileRange(const std::string& path, int64_t offset, int64_t length);

}  // namespace walden
