// SIGINT and SIGTERM as a stop request for long-running commands (run, tail, demo).
// Installed without SA_RESTART so blocking waits (poll) return early. Thread-safety: the
// flag is atomic; install once, from the main thread.
#pragma once

#include <atomic>

namespace walden::cli {

// Installs the handlers and returns the flag they set.
std::atomic<bool>& InstallStopHandlers();

}  // namespace walden::cli
