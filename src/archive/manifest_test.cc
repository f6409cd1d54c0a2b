#include "archive/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "store/local_store.h"

namespace walden::archive {
namespace {

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/manifest-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(root_);
    store_ = std::move(*store::LocalStore::Open(root_));
  }
  static SegmentFile File(const std::string& key, uint64_t first, uint64_t last) {
    return SegmentFile{.table = {"public", "orders"},
                       .day = "2026-11-21",
                       .first_lsn = first,
                       .last_lsn = last,
                       .rows = 3,
                       .bytes = 100,
                       .key = key,
                       .local_path = "/tmp/x"};
  }
  std::string root_;
  std::unique_ptr<store::LocalStore> store_;
};

TEST_F(ManifestTest, CommitsFoldIntoLiveFilesAndWatermark) {
  Manifest manifest(*store_);
  auto state = manifest.Load();
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->last_sequence, 0u);
  EXPECT_EQ(state->watermark, Watermark{});
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x10}, Lsn{0x18}}, {File("a", 0x1, 0x10)}));
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x20}, Lsn{0x28}},
                              {File("b", 0x11, 0x18), File("c", 0x19, 0x20)}));
  // Compaction: c and b become d.
  SegmentFile d = File("d", 0x11, 0x20);
  d.row_groups = {{.offset = 4,
                   .length = 60,
                   .rows = 2,
                   .min_commit_time = 5,
                   .max_commit_time = 6,
                   .min_lsn = 0x11,
                   .max_lsn = 0x18,
                   .key_min = "-3",
                   .key_max = "9",
                   .sha256 = "ab"},
                  {.offset = 64,
                   .length = 20,
                   .rows = 1,
                   .min_commit_time = 7,
                   .max_commit_time = 7,
                   .min_lsn = 0x20,
                   .max_lsn = 0x20,
                   .sha256 = "cd"}};
  d.footer_sha256 = "ef";
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x20}, Lsn{0x28}}, {d}, {"b", "c"}));
  auto reloaded = manifest.Load();
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  EXPECT_EQ(reloaded->last_sequence, 3u);
  EXPECT_EQ(reloaded->watermark, (Watermark{Lsn{0x20}, Lsn{0x28}}));
  std::vector<std::string> live;
  for (const auto& [key, file] : reloaded->live) live.push_back(key);
  EXPECT_EQ(live, (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(reloaded->live.at("d").first_lsn, 0x11u);
  EXPECT_EQ(reloaded->live.at("d").local_path, "");
  EXPECT_EQ(reloaded->live.at("d").row_groups, d.row_groups);
  EXPECT_EQ(reloaded->live.at("d").footer_sha256, "ef");
  EXPECT_EQ(reloaded->live.at("d").FooterOffset(), 84);
  EXPECT_TRUE(reloaded->live.at("a").row_groups.empty());
  EXPECT_EQ(store_->List("_walden/commits/").value().front().key,
            "_walden/commits/00000000000000000001.json");
}

TEST_F(ManifestTest, SecondWriterOfTheSameSequenceFails) {
  Manifest first(*store_);
  Manifest second(*store_);
  auto a = first.Load();
  auto b = second.Load();
  ASSERT_TRUE(first.Commit(*a, {Lsn{1}, Lsn{2}}, {}));
  auto lost = second.Commit(*b, {Lsn{3}, Lsn{4}}, {});
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().message,
            "manifest commit _walden/commits/00000000000000000001.json already exists: another "
            "walden writes this archive");
}

// A store whose next PUT lands but whose answer is lost (a connection cut mid-request), or
// of which only the start lands (a store that shows objects while they arrive).
class LostAnswerStore : public store::ObjectStore {
 public:
  explicit LostAnswerStore(store::ObjectStore& inner) : inner_(inner) {}
  Status Put(std::string_view key, std::string_view data) override {
    auto put = inner_.Put(key, cut_next_ ? data.substr(0, data.size() / 3) : data);
    if (lose_next_ || cut_next_) {
      lose_next_ = cut_next_ = false;
      return Fail(ErrorKind::kConnection, "Server returned nothing (no headers, no data)");
    }
    return put;
  }
  Status PutFile(std::string_view key, const std::string& path) override {
    return inner_.PutFile(key, path);
  }
  Result<std::string> Get(std::string_view key) override { return inner_.Get(key); }
  Result<std::vector<store::ObjectInfo>> List(std::string_view prefix) override {
    return inner_.List(prefix);
  }
  Status Delete(std::string_view key) override { return inner_.Delete(key); }
  std::string url() const override { return inner_.url(); }
  bool lose_next_ = false;
  bool cut_next_ = false;

 private:
  store::ObjectStore& inner_;
};

TEST_F(ManifestTest, ACommitWhoseAnswerWasLostIsAdoptedWhenTriedAgain) {
  LostAnswerStore store(*store_);
  Manifest manifest(store);
  auto state = manifest.Load();
  ASSERT_TRUE(state);
  store.lose_next_ = true;
  ASSERT_FALSE(manifest.Commit(*state, {Lsn{0x10}, Lsn{0x18}}, {File("a", 0x1, 0x10)}));
  EXPECT_EQ(state->last_sequence, 0u);
  // The retry finds its own commit in place: done, not "another walden".
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x10}, Lsn{0x18}}, {File("a", 0x1, 0x10)}));
  EXPECT_EQ(state->last_sequence, 1u);
  EXPECT_EQ(state->watermark, (Watermark{Lsn{0x10}, Lsn{0x18}}));
  EXPECT_TRUE(state->live.contains("a"));
  // A different commit at the next sequence is still another writer's.
  Manifest other(*store_);
  auto theirs = other.Load();
  ASSERT_TRUE(other.Commit(*theirs, {Lsn{0x20}, Lsn{0x28}}, {File("b", 0x11, 0x20)}));
  EXPECT_FALSE(manifest.Commit(*state, {Lsn{0x30}, Lsn{0x38}}, {File("c", 0x21, 0x30)}));
}

// Found by RunTest.S3OutageIsRiddenOutWithNothingLost: s3rver stopped in the middle of a
// commit's PUT kept its start, and the flush's retry after the outage stopped walden with
// "another walden writes this archive".
TEST_F(ManifestTest, ACommitCutShortWhileRunningIsWrittenAgainByTheRetry) {
  LostAnswerStore store(*store_);
  Manifest manifest(store);
  auto state = manifest.Load();
  ASSERT_TRUE(state);
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x10}, Lsn{0x18}}, {File("a", 0x1, 0x10)}));
  store.cut_next_ = true;
  ASSERT_FALSE(manifest.Commit(*state, {Lsn{0x20}, Lsn{0x28}}, {File("b", 0x11, 0x20)}));
  EXPECT_EQ(state->last_sequence, 1u);
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x20}, Lsn{0x28}}, {File("b", 0x11, 0x20)}));
  EXPECT_EQ(state->last_sequence, 2u);
  auto reloaded = Manifest(*store_).Load();
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  EXPECT_EQ(reloaded->last_sequence, 2u);
  EXPECT_EQ(reloaded->watermark, (Watermark{Lsn{0x20}, Lsn{0x28}}));
  EXPECT_TRUE(reloaded->live.contains("b"));
  EXPECT_EQ(reloaded->cut_short, "");
}

TEST_F(ManifestTest, DamagedCommitsAreNamed) {
  ASSERT_TRUE(store_->Put("_walden/commits/00000000000000000001.json", "{not json"));
  auto state = Manifest(*store_).Load();
  ASSERT_FALSE(state);
  EXPECT_TRUE(state.error().message.starts_with(
      "manifest commit _walden/commits/00000000000000000001.json is unreadable ("))
      << state.error().message;
  ASSERT_TRUE(store_->Delete("_walden/commits/00000000000000000001.json"));
  ASSERT_TRUE(
      store_->Put("_walden/commits/00000000000000000002.json", Manifest::ToJson({.sequence = 2})));
  EXPECT_EQ(Manifest(*store_).Load().error().message,
            "manifest commit _walden/commits/00000000000000000002.json is out of sequence "
            "(expected 1); the archive is damaged");
}

TEST_F(ManifestTest, ACommitCutShortByACrashIsNotPartOfTheArchiveAndIsWrittenAgain) {
  Manifest manifest(*store_);
  auto state = manifest.Load();
  ASSERT_TRUE(manifest.Commit(*state, {Lsn{0x10}, Lsn{0x18}}, {File("a", 0x1, 0x10)}));
  const std::string second = Manifest::CommitKey(2);
  const std::string whole = Manifest::ToJson(
      {.sequence = 2, .watermark = {Lsn{0x20}, Lsn{0x28}}, .added = {File("b", 0x11, 0x20)}});
  // What a store that shows objects while they are written keeps of a PUT cut short.
  for (const std::string& start : {std::string(), whole.substr(0, whole.size() / 2)}) {
    ASSERT_TRUE(store_->Put(second, start));
    auto loaded = manifest.Load();
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(loaded->last_sequence, 1u);
    EXPECT_EQ(loaded->watermark, (Watermark{Lsn{0x10}, Lsn{0x18}}));
    EXPECT_FALSE(loaded->live.contains("b"));
    EXPECT_EQ(loaded->cut_short, second);
  }
  // The next commit is written over it.
  auto loaded = manifest.Load();
  ASSERT_TRUE(manifest.Commit(*loaded, {Lsn{0x30}, Lsn{0x38}}, {File("c", 0x21, 0x30)}));
  EXPECT_EQ(loaded->cut_short, "");
  auto reloaded = manifest.Load();
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  EXPECT_EQ(reloaded->last_sequence, 2u);
  EXPECT_TRUE(reloaded->live.contains("c"));
  // Anything else stays damage: text that is not the start of a commit, or a commit that
  // does not parse before the newest one.
  ASSERT_TRUE(store_->Put(Manifest::CommitKey(3), "{\"sequence\": 3, oops}"));
  EXPECT_FALSE(manifest.Load());
  ASSERT_TRUE(store_->Put(Manifest::CommitKey(2), ""));
  ASSERT_TRUE(store_->Put(Manifest::CommitKey(3), Manifest::ToJson({.sequence = 3})));
  EXPECT_THAT(manifest.Load().error().message,
              ::testing::HasSubstr("00000000000000000002.json is unreadable"));
}

TEST_F(ManifestTest, LeaseKeepsASecondWriterOut) {
  Manifest manifest(*store_);
  ASSERT_TRUE(manifest.AcquireLease("writer-1", std::chrono::seconds(60)));
  ASSERT_TRUE(manifest.AcquireLease("writer-1", std::chrono::seconds(60)));  // renewal
  auto refused = manifest.AcquireLease("writer-2", std::chrono::seconds(60));
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().message.starts_with("archive " + store_->url() +
                                                  " is in use by another walden (host "))
      << refused.error().message;
  ASSERT_TRUE(manifest.ReleaseLease("writer-1"));
  EXPECT_TRUE(manifest.AcquireLease("writer-2", std::chrono::seconds(60)));
  // An expired lease is taken over.
  ASSERT_TRUE(manifest.AcquireLease("writer-2", std::chrono::seconds(0)));
  EXPECT_TRUE(manifest.AcquireLease("writer-3", std::chrono::seconds(60)));
}

}  // namespace
}  // namespace walden::archive
