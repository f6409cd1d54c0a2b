#include "common/files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace walden {
namespace {

std::string Read(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(Files, WriteFileAtomicallyReplacesTheWholeFileAndLeavesNoTemporary) {
  const std::string dir = ::testing::TempDir() + "/files_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/state.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first, longer contents"));
  ASSERT_TRUE(WriteFileAtomically(path, "second"));
  EXPECT_EQ(Read(path), "second");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Files, AMissingDirectoryIsAnIoErrorNamingThePath) {
  const std::string path = ::testing::TempDir() + "/no/such/dir/state.json";
  auto written = WriteFileAtomically(path, "x");
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().kind, ErrorKind::kIo);
  EXPECT_EQ(written.error().message, "cannot create " + path + ".tmp: No such file or directory");
}

}  // namespace
}  // namespace walden
