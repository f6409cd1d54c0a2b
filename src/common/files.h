// Durable local file writes: whole contents, fsync, and atomic replacement by rename, for
// state that must survive a crash or power loss in one piece (the local archive's objects,
// the snapshot job file). Thread-safety: plain functions; concurrent writers of one path
// must use distinct temporary names.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace walden {

// "<what> <path>: <errno's text>" (e.g. "cannot write /x: No space left on device").
std::unexpected<Error> IoError(const std::string& what, const std::string& path);
// fsync of a file or (flags with O_DIRECTORY) a directory.
Status FsyncPath(const std::string& path, int flags);
// Creates or truncates `path` and writes all of `data` (retrying short writes); no fsync.
Status WriteAll(const std::string& path, std::string_view data);
// `data` becomes the contents of `path` entirely or not at all: written to `path`.tmp,
// fsynced, renamed over `path`, and the directory fsynced.
Status WriteFileAtomically(const std::string& path, std::string_view data);

}  // namespace walden
