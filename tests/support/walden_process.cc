#include "tests/support/walden_process.h"

#include <gtest/gtest.h>

namespace walden::testing {

std::string WaldenBinary() { return WALDEN_BINARY; }

CommandResult RunWalden(const std::vector<std::string>& args,
                        const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> argv = {WaldenBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = RunCommand({.argv = argv, .env = env}, std::chrono::seconds(60));
  EXPECT_TRUE(result) << (result ? "" : result.error().message);
  return result.value_or(CommandResult{-1, ""});
}

}  // namespace walden::testing
