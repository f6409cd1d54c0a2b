// Runs the built `walden` binary as a real process, as users do, for end-to-end tests.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/subprocess.h"

namespace walden::testing {

// `walden args...` running in the background, stdout and stderr in files, for tests that
// drive a workload while walden runs. Killed (group) when destroyed.
class WaldenProcess {
 public:
  WaldenProcess(const std::vector<std::string>& args,
                const std::vector<std::pair<std::string, std::string>>& env = {});
  // Waits until stderr contains `text` (`count` times); false on timeout or exit.
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout, int count = 1);
  // Waits for exit; -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  std::string Stdout() const;
  std::string Stderr() const;
  std::vector<std::string> StdoutLines() const;
  Subprocess& process() { return *process_; }

 private:
  std::string dir_;
  std::optional<Subprocess> process_;
};

// Path of the walden binary of this build.
std::string WaldenBinary();

// Runs `walden args...` to completion (60 s limit) with extra environment variables;
// stdout and stderr are captured together.
CommandResult RunWalden(const std::vector<std::string>& args,
                        const std::vector<std::pair<std::string, std::string>>& env = {});

}  // namespace walden::testing
