#include "store/local_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace walden::store {
namespace {

std::vector<std::pair<std::string, int64_t>> KeysAndSizes(const std::vector<ObjectInfo>& objects) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const ObjectInfo& o : objects) out.emplace_back(o.key, o.size);
  return out;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/local-store-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(root_);
    auto store = LocalStore::Open(root_);
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
  }
  std::string root_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, PutGetListDelete) {
  ASSERT_TRUE(store_->Put("tables/public/orders/dt=2026-11-21/0A-0B.parquet", "abc"));
  ASSERT_TRUE(store_->Put("_walden/commits/00000000000000000001.json", "{}"));
  ASSERT_TRUE(store_->Put("tables/Weird Schema/Sélect/x.parquet", "é"));
  EXPECT_EQ(store_->Get("tables/public/orders/dt=2026-11-21/0A-0B.parquet").value(), "abc");
  EXPECT_EQ(KeysAndSizes(store_->List("tables/").value()),
            (std::vector<std::pair<std::string, int64_t>>{
                {"tables/Weird Schema/Sélect/x.parquet", 2},
                {"tables/public/orders/dt=2026-11-21/0A-0B.parquet", 3}}));
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (const ObjectInfo& o : store_->List("").value()) {
    EXPECT_LE(std::abs(now_us - o.modified_us), 60'000'000) << o.key;
  }
  EXPECT_EQ(store_->List("").value().size(), 3u);
  ASSERT_TRUE(store_->Delete("_walden/commits/00000000000000000001.json"));
  ASSERT_TRUE(store_->Delete("_walden/commits/00000000000000000001.json"));  // absent is fine
  auto missing = store_->Get("_walden/commits/00000000000000000001.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(LocalStoreTest, PutReplacesAtomicallyAndLeavesNoTemporaries) {
  ASSERT_TRUE(store_->Put("a/b", "first"));
  ASSERT_TRUE(store_->Put("a/b", "second"));
  EXPECT_EQ(store_->Get("a/b").value(), "second");
  EXPECT_EQ(KeysAndSizes(store_->List("").value()),
            (std::vector<std::pair<std::string, int64_t>>{{"a/b", 6}}));
  const std::string file = root_ + "/source.bin";
  { std::ofstream(file) << "from file"; }
  ASSERT_TRUE(store_->PutFile("c", file));
  EXPECT_EQ(store_->Get("c").value(), "from file");
}

TEST_F(LocalStoreTest, GetRangeReadsExactlyTheBytesAskedFor) {
  ASSERT_TRUE(store_->Put("a/b.parquet", "0123456789"));
  EXPECT_EQ(store_->GetRange("a/b.parquet", 3, 4).value(), "3456");
  EXPECT_EQ(store_->GetRange("a/b.parquet", 0, 10).value(), "0123456789");
  auto past = store_->GetRange("a/b.parquet", 8, 4);
  ASSERT_FALSE(past);
  EXPECT_TRUE(past.error().message.ends_with(
      "-GetRangeReadsExactlyTheBytesAskedFor/a/b.parquet has no bytes 8-11"))
      << past.error().message;
  EXPECT_EQ(store_->GetRange("a/missing", 0, 1).error().kind, ErrorKind::kNotFound);
}

TEST_F(LocalStoreTest, TheCacheCountsWhatSparseCopiesTakeOnDisk) {
  const std::string cache = root_ + "/cache";
  std::filesystem::create_directories(cache);
  {
    std::ofstream sparse(cache + "/sparse.parquet", std::ios::binary);
    sparse.seekp(50 << 20);  // 50 MB of hole, then one byte
    sparse.put('x');
    std::ofstream dense(cache + "/dense.parquet", std::ios::binary);
    dense << std::string(200 << 10, 'y');
  }
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  std::filesystem::last_write_time(cache + "/sparse.parquet", old - std::chrono::hours(1));
  std::filesystem::last_write_time(cache + "/dense.parquet", old);
  // Both fit in 1 MB on disk: nothing goes, though the sparse file's size is 50 MB.
  EXPECT_EQ(TrimCache(cache, 1 << 20, std::chrono::seconds(0)).value(), 0);
  // Under 100 KB the least recently used goes first, then the next.
  EXPECT_EQ(TrimCache(cache, 100 << 10, std::chrono::seconds(0)).value() > 0, true);
  EXPECT_FALSE(std::filesystem::exists(cache + "/sparse.parquet"));
  EXPECT_FALSE(std::filesystem::exists(cache + "/dense.parquet"));
}

TEST_F(LocalStoreTest, RejectsKeysThatEscapeTheRoot) {
  for (const char* key : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/", "."}) {
    EXPECT_FALSE(store_->Put(key, "x")) << key;
  }
}

TEST(LocalStore, UnwritableRootIsAClearError) {
  auto store = LocalStore::Open("/proc/walden-cannot-exist");
  ASSERT_FALSE(store);
  EXPECT_TRUE(store.error().message.starts_with(
      "cannot create archive directory /proc/walden-cannot-exist: "))
      << store.error().message;
}

}  // namespace
}  // namespace walden::store
