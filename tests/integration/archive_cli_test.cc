// `walden archive ls` and `walden archive compact` as users run them, on a local folder and
// on s3rver, over an archive written by the segment writer and manifest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "archive/manifest.h"
#include "store/object_store.h"
#include "tests/support/s3_server.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNoon = 1795262400000000;  // 2026-11-21T12:00:00Z

// Three flushes of a table with a hostile name into the archive at `config`.
void WriteArchive(const ArchiveConfig& config, const std::string& scratch) {
  auto store = store::OpenStore(config);
  ASSERT_TRUE(store) << store.error().message;
  archive::Manifest manifest(**store);
  auto state = manifest.Load();
  ASSERT_TRUE(state);
  const archive::TableSchema schema{.name = {"Sales Dept", "Orders"},
                                    .columns = {"id"},
                                    .types = {ColumnType{.kind = TypeKind::kInt64}}};
  for (int flush = 0; flush < 3; ++flush) {
    auto spool = archive::Spool::Open(":memory:", "64MB");
    std::vector<archive::ArchiveChange> changes;
    for (int i = 0; i < 2; ++i) {
      changes.push_back({.op = 'c',
                         .commit_lsn = 0x100u * (flush + 1),
                         .seq = i,
                         .xid = 5,
                         .commit_time = kNoon,
                         .values = {int64_t{flush * 2 + i}}});
    }
    ASSERT_TRUE((*spool)->Append(schema, changes));
    auto files = (*spool)->WriteSegments(scratch);
    ASSERT_TRUE(files);
    for (const auto& file : *files) ASSERT_TRUE((*store)->PutFile(file.key, file.local_path));
    ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x100u * (flush + 1)}, Lsn{0x100u * (flush + 1) + 8}},
                                *files));
  }
}

void ListAndCompact(const std::vector<std::string>& archive_flags,
                    const std::vector<std::pair<std::string, std::string>>& env,
                    const std::string& url) {
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), archive_flags.begin(), archive_flags.end());
    return RunWalden(args, env);
  };
  const CommandResult ls = with({"archive", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.output;
  EXPECT_THAT(ls.output, HasSubstr("archive " + url + ": 3 commits, watermark 0/300 (end 0/308)"));
  EXPECT_THAT(ls.output,
              HasSubstr("\"Sales Dept\".\"Orders\"            2026-11-21     3          6 "));
  const CommandResult compact = with({"archive", "compact", "--archive-orphan-grace", "1h"});
  ASSERT_EQ(compact.exit_code, 0) << compact.output;
  EXPECT_THAT(compact.output, HasSubstr("compacted 3 files ("));
  EXPECT_THAT(compact.output, HasSubstr(") into 1 ("));
  const CommandResult after = with({"archive", "ls", "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.output;
  const auto report = nlohmann::json::parse(after.output);
  EXPECT_EQ(report["commits"], 4);
  ASSERT_EQ(report["tables"].size(), 1u);
  EXPECT_EQ(report["tables"][0]["files"], 1);
  EXPECT_EQ(report["tables"][0]["rows"], 6);
  EXPECT_EQ(report["tables"][0]["min_commit_lsn"], "0/100");
}

TEST(ArchiveCli, ListsAndCompactsALocalArchive) {
  const std::string dir =
      std::filesystem::path(::testing::TempDir() + "/archive-cli-local").lexically_normal();
  std::filesystem::remove_all(dir);
  WriteArchive({.url = "file://" + dir + "/archive"}, dir + "/scratch");
  ListAndCompact({"--archive-url", "file://" + dir + "/archive", "--data-dir", dir + "/data"}, {},
                 "file://" + dir + "/archive");
}

TEST(ArchiveCli, ListsAndCompactsAnS3Archive) {
  auto s3 = S3Server::Start("walden-cli");
  ASSERT_TRUE(s3) << s3.error().message;
  setenv("AWS_ACCESS_KEY_ID", S3Server::kAccessKey, 1);
  setenv("AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey, 1);
  const std::string dir = ::testing::TempDir() + "/archive-cli-s3";
  std::filesystem::remove_all(dir);
  WriteArchive(
      {.url = "s3://walden-cli/prod", .endpoint = (*s3)->endpoint(), .region = "us-east-1"},
      dir + "/scratch");
  ListAndCompact({"--archive-url", "s3://walden-cli/prod", "--archive-endpoint", (*s3)->endpoint(),
                  "--data-dir", dir + "/data"},
                 {{"AWS_ACCESS_KEY_ID", S3Server::kAccessKey},
                  {"AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey}},
                 "s3://walden-cli/prod");
}

TEST(ArchiveCli, MissingCredentialsAndBucketAreOneLine) {
  const CommandResult result =
      RunWalden({"archive", "ls", "--archive-url", "s3://walden-nowhere/x", "--archive-endpoint",
                 "http://127.0.0.1:1"},
                {{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""}});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n");
}

}  // namespace
}  // namespace walden::testing
