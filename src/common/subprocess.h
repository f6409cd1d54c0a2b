// Child processes that never outlive their owner: PostgreSQL servers and s3rver for tests
// and the demo, `walden` itself in end-to-end tests.
//
// Each child runs in its own process group. A guardian (a tiny shell in its own session)
// watches a pipe held by this process; if this process dies in any way, even by SIGKILL,
// the pipe closes and the guardian signals the child's group, escalates to SIGKILL and
// removes the child's scratch directory. Destroying a still-running Subprocess kills its
// group. Thread-safety: one owner thread per Subprocess; Spawn may be called from any
// thread (only async-signal-safe calls run between fork and exec).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace walden {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0]: program path, or a name looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // added or overridden variables
  std::optional<std::string> user;  // run as this user (only when running as root)
  std::string stdout_path;          // empty: /dev/null; "-": inherit
  std::string stderr_path;          // empty: same as stdout
  bool append_output = false;
  std::string cwd;
  int guardian_signal = SIGKILL;  // first signal if the owner dies (SIGQUIT for postgres)
  std::string scratch_dir;        // removed by the guardian when it fires
};

class Subprocess {
 public:
  static Result<Subprocess> Spawn(const SpawnOptions& options);

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool Running();
  // Exit code once the child has ended; 128 + signal number when a signal ended it.
  std::optional<int> ExitCode() const { return exit_code_; }
  // Waits for the child to end; kIo error on timeout (the child keeps running).
  Result<int> Wait(std::chrono::milliseconds timeout);
  // Sends a signal to the child's process group.
  void Signal(int signal);
  // Signal, wait up to `grace`, then SIGKILL the group and reap.
  int Stop(int signal, std::chrono::milliseconds grace);

 private:
  Subprocess(pid_t pid, pid_t guardian, int guardian_fd)
      : pid_(pid), guardian_(guardian), guardian_fd_(guardian_fd) {}
  void Reaped(int status);
  void Disarm();

  pid_t pid_ = -1;
  pid_t guardian_ = -1;
  int guardian_fd_ = -1;
  std::optional<int> exit_code_;
};

struct CommandResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr interleaved
};

// Runs a command to completion, capturing its output (stdout_path/stderr_path ignored).
Result<CommandResult> RunCommand(SpawnOptions options, std::chrono::milliseconds timeout);

}  // namespace walden
