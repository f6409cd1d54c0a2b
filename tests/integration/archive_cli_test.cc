// `walden archive ls` and `walden archive compact` as users run them, on a local folder and
// on s3rver, over an archive written by the segment writer and manifest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "archive/manifest.h"
#include "duck/duckdb.h"
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
  EXPECT_EQ(report["tables"][0]["min_commit_time"], "2026-11-21T12:00:00Z");
  EXPECT_EQ(report["tables"][0]["max_commit_time"], "2026-11-21T12:00:00Z");
  const CommandResult verified = with({"archive", "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_THAT(verified.output, HasSubstr("archive " + url + ": 4 commits, 1 files ("));
  EXPECT_THAT(verified.output, HasSubstr("), watermark 0/300: verified\n"));
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

// Damage that still parses (issue #16, item 10): changed bytes in a data file, and a
// commit whose watermark was edited. verify names the damage; a rebuild refuses it.
TEST(ArchiveCli, DamageThatStillParsesIsFoundByVerifyAndRefusedByRebuild) {
  const std::string dir =
      std::filesystem::path(::testing::TempDir() + "/archive-cli-damage").lexically_normal();
  std::filesystem::remove_all(dir);
  WriteArchive({.url = "file://" + dir + "/archive"}, dir + "/scratch");
  const std::vector<std::string> flags = {"--archive-url", "file://" + dir + "/archive",
                                          "--data-dir", dir + "/data"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), flags.begin(), flags.end());
    return RunWalden(args);
  };
  ASSERT_EQ(with({"archive", "verify"}).exit_code, 0);
  // Four bytes in the middle of the first flush's file: still a readable Parquet file.
  const std::string key =
      "tables/Sales Dept/Orders/dt=2026-11-21/0000000000000100-0000000000000100.parquet";
  const std::string path = dir + "/archive/" + key;
  ASSERT_TRUE(std::filesystem::exists(path));
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(std::filesystem::file_size(path) / 2));
    file.write("\x5a\x5a\x5a\x5a", 4);
  }
  const CommandResult verify = with({"archive", "verify"});
  EXPECT_EQ(verify.exit_code, 1) << verify.output;
  const std::string damage = "archive file " + key +
                             " does not match the checksum its commit recorded (its bytes "
                             "changed after it was written); restore it from a backup of the "
                             "bucket, or run `walden resync` to start the history over (walden "
                             "archive verify lists every damaged file)";
  EXPECT_THAT(verify.output, HasSubstr("damaged: " + damage + "\n"));
  EXPECT_THAT(verify.output, HasSubstr(": 1 damaged files\n"));
  const CommandResult rebuild = with({"mirror", "rebuild"});
  EXPECT_EQ(rebuild.exit_code, 1) << rebuild.output;
  EXPECT_THAT(rebuild.output, HasSubstr(damage));
  // A commit edited to move the watermark back: every start and command refuses it.
  const std::string commit = dir + "/archive/_walden/commits/00000000000000000003.json";
  auto json = nlohmann::json::parse(std::ifstream(commit));
  json["watermark"]["commit_lsn"] = "0/80";
  std::ofstream(commit) << json.dump();
  const CommandResult edited = with({"archive", "verify"});
  EXPECT_EQ(edited.exit_code, 1) << edited.output;
  EXPECT_THAT(edited.output,
              HasSubstr("manifest commit _walden/commits/00000000000000000003.json moves the "
                        "watermark back from 0/200 to 0/80; the archive is damaged"));
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

// kill -9 during compaction, again and again: after every kill the manifest's live files
// hold every change exactly once; a final run completes the job.
TEST(ArchiveCli, CompactionKilledAnywhereKeepsEveryChangeOnce) {
  const std::string dir =
      std::filesystem::path(::testing::TempDir() + "/archive-cli-kill-" + std::to_string(getpid()))
          .lexically_normal();
  std::filesystem::remove_all(dir);
  const ArchiveConfig config{.url = "file://" + dir + "/archive"};
  auto store = store::OpenStore(config);
  archive::Manifest manifest(**store);
  auto state = manifest.Load();
  int64_t total = 0;
  // 40 days x 4 flushes of one table: 160 small files, 40 groups to merge.
  const archive::TableSchema schema{.name = {"public", "events"},
                                    .columns = {"id"},
                                    .types = {ColumnType{.kind = TypeKind::kInt64}}};
  uint64_t lsn = 0x100;
  for (int flush = 0; flush < 4; ++flush) {
    auto spool = archive::Spool::Open(":memory:", "64MB");
    std::vector<archive::ArchiveChange> changes;
    for (int day = 0; day < 40; ++day) {
      for (int i = 0; i < 50; ++i) {
        changes.push_back({.op = 'c',
                           .commit_lsn = lsn++,
                           .seq = 0,
                           .xid = 1,
                           .commit_time = kNoon + int64_t{day} * 86400000000 + flush,
                           .values = {int64_t{total++}}});
      }
    }
    ASSERT_TRUE((*spool)->Append(schema, changes));
    auto files = (*spool)->WriteSegments(dir + "/scratch");
    ASSERT_TRUE(files);
    for (const auto& file : *files) ASSERT_TRUE((*store)->PutFile(file.key, file.local_path));
    ASSERT_TRUE(manifest.Commit(*state, {Lsn{lsn}, Lsn{lsn + 1}}, *files));
  }
  auto check = [&] {
    auto loaded = manifest.Load();
    ASSERT_TRUE(loaded) << loaded.error().message;
    std::string files;
    for (const auto& [key, file] : loaded->live) {
      files += (files.empty() ? "'" : ", '") + dir + "/archive/" + key + "'";
    }
    auto db = duck::Database::Open(":memory:");
    auto conn = duck::Connection::Open(*db);
    auto result = conn->Query(
        "SELECT count(*)::VARCHAR, count(DISTINCT id)::VARCHAR FROM "
        "read_parquet([" +
        files + "])");
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->Text(0, 0), std::to_string(total));
    EXPECT_EQ(result->Text(0, 1), std::to_string(total));
  };
  std::mt19937 random(11);
  const std::vector<std::string> args = {"archive",  "compact",    "--archive-url",
                                         config.url, "--data-dir", dir + "/data"};
  for (int i = 0; i < 10; ++i) {
    WaldenProcess compact(args);
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 400));
    compact.process().Signal(SIGKILL);
    compact.Wait(std::chrono::seconds(30));
    check();
  }
  const CommandResult done = RunWalden(args);
  ASSERT_EQ(done.exit_code, 0) << done.output;
  check();
  auto final_state = manifest.Load();
  EXPECT_EQ(final_state->live.size(), 40u);  // one file per day
}

}  // namespace
}  // namespace walden::testing
