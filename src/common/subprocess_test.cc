#include "common/subprocess.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace walden {
namespace {

using namespace std::chrono_literals;

// A zombie (killed, not yet reaped by whoever inherited it) counts as dead.
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, command, state;
  return stat >> pid_field >> command >> state && state != "Z";
}

bool NonEmptyFile(const std::string& path) {
  std::error_code ec;
  return std::filesystem::file_size(path, ec) > 0 && !ec;
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

TEST(Subprocess, RunCommandCapturesOutputAndExitCode) {
  auto result = RunCommand({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}}, 10s);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->output, "out\nerr\n");
}

TEST(Subprocess, EnvironmentOverrides) {
  auto result = RunCommand(
      {.argv = {"sh", "-c", "printf %s \"$WALDEN_X\""}, .env = {{"WALDEN_X", "hello world"}}}, 10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->output, "hello world");
}

TEST(Subprocess, MissingProgramExits127WithAMessage) {
  auto result = RunCommand({.argv = {"/nonexistent/program"}}, 10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->exit_code, 127);
  EXPECT_EQ(result->output, "/nonexistent/program: No such file or directory\n");
}

TEST(Subprocess, StopSignalsTheWholeGroup) {
  const std::string pid_file = ::testing::TempDir() + "/grandchild.pid";
  std::filesystem::remove(pid_file);
  auto process =
      Subprocess::Spawn({.argv = {"sh", "-c", "sleep 60 & echo $! > " + pid_file + "; wait"}});
  ASSERT_TRUE(process);
  ASSERT_TRUE(WaitUntil([&] { return NonEmptyFile(pid_file); }, 10s));
  pid_t grandchild = 0;
  std::ifstream(pid_file) >> grandchild;
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(process->Stop(SIGTERM, 5s), 128 + SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return !Alive(grandchild); }, 10s));
}

// The owner dies by SIGKILL: the guardian must take the child (and its scratch dir) with it.
TEST(Subprocess, ChildDiesWithItsOwnerEvenOnSigkill) {
  const std::string dir = ::testing::TempDir() + "/guardian-scratch";
  std::filesystem::create_directories(dir);
  const std::string pid_file = ::testing::TempDir() + "/guarded.pid";
  std::filesystem::remove(pid_file);
  const pid_t owner = fork();
  if (owner == 0) {
    auto process = Subprocess::Spawn({.argv = {"sleep", "60"}, .scratch_dir = dir});
    if (!process) _exit(1);
    std::ofstream(pid_file) << process->pid();
    pause();
    _exit(0);
  }
  ASSERT_TRUE(WaitUntil([&] { return NonEmptyFile(pid_file); }, 10s));
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  const bool was_alive = Alive(child);
  kill(owner, SIGKILL);
  waitpid(owner, nullptr, 0);
  ASSERT_TRUE(was_alive);
  EXPECT_TRUE(WaitUntil([&] { return !Alive(child); }, 10s));
  EXPECT_TRUE(WaitUntil([&] { return !std::filesystem::exists(dir); }, 10s));
  std::filesystem::remove(pid_file);
}

}  // namespace
}  // namespace walden
