// Runs the built `walden` binary as a real process, as users do, for end-to-end tests.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/subprocess.h"

namespace walden::testing {

// Path of the walden binary of this build.
std::string WaldenBinary();

// Runs `walden args...` to completion (60 s limit) with extra environment variables;
// stdout and stderr are captured together.
CommandResult RunWalden(const std::vector<std::string>& args,
                        const std::vector<std::pair<std::string, std::string>>& env = {});

}  // namespace walden::testing
