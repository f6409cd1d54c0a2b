#include "tests/support/walden_process.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

WaldenProcess::WaldenProcess(const std::vector<std::string>& args,
                             const std::vector<std::pair<std::string, std::string>>& env) {
  std::string pattern = ::testing::TempDir() + "/walden-proc-XXXXXX";
  if (!mkdtemp(pattern.data())) ADD_FAILURE() << "mkdtemp failed";
  dir_ = pattern;
  std::vector<std::string> argv = {WaldenBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = Subprocess::Spawn(
      {.argv = argv, .env = env, .stdout_path = dir_ + "/stdout", .stderr_path = dir_ + "/stderr"});
  EXPECT_TRUE(process) << (process ? "" : process.error().message);
  if (process) process_.emplace(std::move(*process));
}

bool WaldenProcess::WaitForLog(const std::string& text, std::chrono::milliseconds timeout,
                               int count) {
  auto found = [&] {
    const std::string err = Stderr();
    int seen = 0;
    for (size_t at = err.find(text); at != std::string::npos; at = err.find(text, at + 1)) {
      if (++seen >= count) return true;
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (found()) return true;
    if (!process_ || !process_->Running()) return found();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int WaldenProcess::Wait(std::chrono::milliseconds timeout) {
  if (!process_) return -1;
  auto code = process_->Wait(timeout);
  return code ? *code : -1;
}

std::string WaldenProcess::Stdout() const { return ReadAll(dir_ + "/stdout"); }
std::string WaldenProcess::Stderr() const { return ReadAll(dir_ + "/stderr"); }

std::vector<std::string> WaldenProcess::StdoutLines() const {
  std::vector<std::string> lines;
  std::istringstream in(Stdout());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace walden::testing
