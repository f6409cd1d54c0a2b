// SHA-256 digests as lower-case hex: S3 request signing, and the checksum the archive's
// manifest records per data file (verified on read and by `walden archive verify`).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace walden {

std::string Sha256Hex(std::string_view data);
// Reads the file in blocks; a kIo error names it when it cannot be read.
Result<std::string> Sha256OfFile(const std::string& path);

}  // namespace walden
