#include "archive/maintenance.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/local_store.h"

namespace walden::archive {
namespace {

constexpr int64_t kNoon = 1795262400000000;  // 2026-11-21T12:00:00Z

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/maintenance-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(root_);
    store_ = std::move(*store::LocalStore::Open(root_ + "/archive"));
    manifest_ = std::make_unique<Manifest>(*store_);
    state_ = *manifest_->Load();
  }

  static TableSchema Schema(const std::string& table) {
    return {.name = {"public", table},
            .columns = {"id"},
            .types = {ColumnType{.kind = TypeKind::kInt64}},
            .key_column = 0};
  }
  // An empty table's initial load: a file without rows.
  void CommitEmptyLoad(const std::string& table, uint64_t lsn) {
    auto db = duck::Database::Open(":memory:");
    auto conn = duck::Connection::Open(*db);
    auto file =
        WriteQuerySegment(*conn, Schema(table), "SELECT 1::BIGINT AS c0 WHERE false",
                          {.op = 'r', .commit_lsn = lsn, .commit_time = kNoon}, root_ + "/out");
    ASSERT_TRUE(file) << file.error().message;
    ASSERT_TRUE(store_->PutFile(file->key, file->local_path));
    ASSERT_TRUE(manifest_->Commit(state_, {Lsn{lsn}, Lsn{lsn + 8}}, {*file}));
  }
  // One flush: `count` inserts into `table` starting at id, committed with the watermark.
  void Flush(const std::string& table, int first_id, int count, uint64_t lsn) {
    auto spool = Spool::Open(":memory:", "64MB");
    const TableSchema schema = Schema(table);
    std::vector<ArchiveChange> changes;
    for (int i = 0; i < count; ++i) {
      changes.push_back({.op = 'c',
                         .commit_lsn = lsn,
                         .seq = i,
                         .xid = 1,
                         .commit_time = kNoon,
                         .values = {int64_t{first_id + i}}});
    }
    ASSERT_TRUE((*spool)->Append(schema, changes));
    auto files = (*spool)->WriteSegments(root_ + "/out");
    ASSERT_TRUE(files) << files.error().message;
    for (const SegmentFile& file : *files) ASSERT_TRUE(store_->PutFile(file.key, file.local_path));
    ASSERT_TRUE(manifest_->Commit(state_, {Lsn{lsn}, Lsn{lsn + 8}}, *files));
  }

  std::vector<std::string> LiveIds(const std::string& table) {
    std::string list;
    for (const auto& [key, file] : state_.live) {
      if (file.table.name != table) continue;
      list += (list.empty() ? "'" : ", '") + root_ + "/archive/" + key + "'";
    }
    auto db = duck::Database::Open(":memory:");
    auto conn = duck::Connection::Open(*db);
    auto result = conn->Query("SELECT id::VARCHAR FROM read_parquet([" + list +
                              "]) ORDER BY _walden_lsn, _walden_seq");
    EXPECT_TRUE(result) << result.error().message;
    std::vector<std::string> ids;
    for (size_t r = 0; result && r < result->rows(); ++r) ids.push_back(*result->Text(r, 0));
    return ids;
  }

  std::string root_;
  std::unique_ptr<store::LocalStore> store_;
  std::unique_ptr<Manifest> manifest_;
  ArchiveState state_;
};

TEST_F(MaintenanceTest, CompactionMergesATableDayIntoOneFileInOneCommit) {
  CommitEmptyLoad("orders", 0x50);
  Flush("orders", 1, 2, 0x100);
  Flush("orders", 3, 2, 0x200);
  Flush("items", 1, 1, 0x280);
  Flush("orders", 5, 2, 0x300);
  const auto before = LiveIds("orders");
  EXPECT_EQ(before, (std::vector<std::string>{"1", "2", "3", "4", "5", "6"}));
  const uint64_t sequence = state_.last_sequence;

  auto report = Compact(*store_, *manifest_, state_, {.work_dir = root_ + "/work"});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->files_in, 4);
  EXPECT_EQ(report->files_out, 1);
  EXPECT_EQ(state_.last_sequence, sequence + 1);                     // one commit
  EXPECT_EQ(state_.watermark, (Watermark{Lsn{0x300}, Lsn{0x308}}));  // unchanged
  ASSERT_EQ(state_.live.size(), 2u);  // merged orders + the single items file
  const std::string merged =
      "tables/public/orders/dt=2026-11-21/0000000000000050-0000000000000300.parquet";
  ASSERT_TRUE(state_.live.contains(merged));
  EXPECT_EQ(state_.live.at(merged).rows, 6);
  // The key range of the rows (the empty load holds none), for key look-ups.
  ASSERT_TRUE(state_.live.at(merged).key_range);
  EXPECT_EQ(state_.live.at(merged).key_range->min, "1");
  EXPECT_EQ(state_.live.at(merged).key_range->max, "6");
  EXPECT_EQ(LiveIds("orders"), before);
  // A reload sees the same; the replaced files are gone.
  auto reloaded = manifest_->Load();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->live.size(), 2u);
  EXPECT_EQ(store_->List("tables/public/orders/").value().size(), 1u);
  // Nothing left to compact.
  auto again = Compact(*store_, *manifest_, state_, {.work_dir = root_ + "/work"});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->files_in, 0);
}

TEST_F(MaintenanceTest, TargetSizeSplitsGroups) {
  for (int i = 0; i < 4; ++i) Flush("orders", i * 10, 3, 0x100 * (i + 1));
  const int64_t one = state_.live.begin()->second.bytes;
  auto report = Compact(*store_, *manifest_, state_,
                        {.target_bytes = one * 5 / 2, .work_dir = root_ + "/work"});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->files_in, 4);
  EXPECT_EQ(report->files_out, 2);
  EXPECT_EQ(LiveIds("orders").size(), 12u);
}

TEST_F(MaintenanceTest, OrphansGoAfterTheGracePeriod) {
  Flush("orders", 1, 1, 0x100);
  // What a flush killed between upload and commit leaves behind.
  ASSERT_TRUE(
      store_->Put("tables/public/orders/dt=2026-11-21/0000000000000200-0000000000000200.parquet",
                  "uncommitted"));
  auto young = CollectOrphans(*store_, state_, std::chrono::hours(1));
  ASSERT_TRUE(young);
  EXPECT_TRUE(young->deleted.empty());
  EXPECT_EQ(young->too_young.size(), 1u);
  auto now = CollectOrphans(*store_, state_, std::chrono::microseconds(0));
  ASSERT_TRUE(now);
  // No commit named it: it may be all that is left of a lost commit, so it is kept aside.
  const std::string key =
      "tables/public/orders/dt=2026-11-21/0000000000000200-0000000000000200.parquet";
  EXPECT_TRUE(now->deleted.empty());
  EXPECT_EQ(now->quarantined, (std::vector<std::string>{key}));
  EXPECT_EQ(store_->Get("_walden/quarantine/" + key).value_or(""), "uncommitted");
  EXPECT_EQ(store_->List("tables/").value().size(), 1u);  // the live file stays
  EXPECT_EQ(LiveIds("orders"), (std::vector<std::string>{"1"}));
}

}  // namespace
}  // namespace walden::archive
