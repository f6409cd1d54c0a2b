#include "archive/partial_read.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "archive/maintenance.h"
#include "archive/parquet_footer.h"
#include "common/checksum.h"
#include "duck/duckdb.h"
#include "store/local_store.h"

namespace walden::archive {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Records the ranges read: what a remote store would be asked for.
class CountingStore final : public store::ObjectStore {
 public:
  explicit CountingStore(store::ObjectStore& inner) : inner_(inner) {}
  Status Put(std::string_view key, std::string_view data) override { return inner_.Put(key, data); }
  Status PutFile(std::string_view key, const std::string& path) override {
    return inner_.PutFile(key, path);
  }
  Result<std::string> Get(std::string_view key) override {
    ranges.push_back({-1, -1});
    return inner_.Get(key);
  }
  Result<std::string> GetRange(std::string_view key, int64_t offset, int64_t length) override {
    ranges.push_back({offset, length});
    return inner_.GetRange(key, offset, length);
  }
  Result<std::vector<store::ObjectInfo>> List(std::string_view prefix) override {
    return inner_.List(prefix);
  }
  Status Delete(std::string_view key) override { return inner_.Delete(key); }
  std::string url() const override { return "s3://counting"; }
  std::vector<ByteRange> ranges;

 private:
  store::ObjectStore& inner_;
};

class PartialReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "/partial-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
    db_ = std::make_unique<duck::Database>(std::move(*duck::Database::Open(":memory:")));
    conn_ = std::make_unique<duck::Connection>(std::move(*duck::Connection::Open(*db_)));
    // 300,000 changes, one per µs and LSN step: row groups of 122,880, 122,880 and 54,240.
    file_.local_path = root_ + "/written.parquet";
    file_.key = "tables/public/t/dt=2026-12-03/0-1.parquet";
    file_.key_range = KeyRange{.column = "id", .numeric = true, .min = "0", .max = "299999"};
    ASSERT_TRUE(conn_->Execute(
        "COPY (SELECT i::BIGINT AS id, 'row ' || i AS note, (1000 + i)::UBIGINT AS _walden_lsn, "
        "make_timestamptz(1796256000000000 + i) AS _walden_commit_ts FROM range(300000) t(i)) "
        "TO '" +
        file_.local_path + "' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"));
    ASSERT_TRUE(Fingerprint(*conn_, file_));
    store_ = std::move(*store::LocalStore::Open(root_ + "/archive"));
    ASSERT_TRUE(store_->PutFile(file_.key, file_.local_path));
  }
  // count, min(id), max(id) of a Parquet file, or the error.
  std::string Summary(const std::string& path) {
    auto r =
        conn_->Query("SELECT count(*) || ',' || min(id) || ',' || max(id) FROM '" + path + "'");
    if (!r) return r.error().message;
    return r->Text(0, 0).value_or("NULL");
  }
  void Damage(const std::string& path, int64_t offset) {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(offset);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(offset);
    f.write(&c, 1);
  }
  std::string root_;
  std::unique_ptr<duck::Database> db_;
  std::unique_ptr<duck::Connection> conn_;
  std::unique_ptr<store::ObjectStore> store_;
  SegmentFile file_;
};

TEST_F(PartialReadTest, FingerprintRecordsRowGroupsThatTileTheFile) {
  ASSERT_EQ(file_.row_groups.size(), 3u);
  EXPECT_EQ(file_.sha256, *Sha256OfFile(file_.local_path));
  EXPECT_EQ(file_.row_groups[0].offset, 4);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(file_.row_groups[i].offset,
              file_.row_groups[i - 1].offset + file_.row_groups[i - 1].length);
  }
  EXPECT_EQ(file_.row_groups[1].rows, 122880);
  EXPECT_EQ(file_.row_groups[2].rows, 54240);
  EXPECT_EQ(file_.row_groups[1].min_lsn, 1000u + 122880);
  EXPECT_EQ(file_.row_groups[1].max_lsn, 1000u + 245759);
  EXPECT_EQ(file_.row_groups[2].min_commit_time, 1796256000000000 + 245760);
  EXPECT_EQ(file_.row_groups[2].max_commit_time, 1796256000000000 + 299999);
  EXPECT_EQ(file_.row_groups[1].key_min, "122880");
  EXPECT_EQ(file_.row_groups[1].key_max, "245759");
  EXPECT_LT(file_.FooterOffset(), file_.bytes);
  EXPECT_EQ(file_.footer_sha256, *Sha256OfFileRange(file_.local_path, file_.FooterOffset(),
                                                    file_.bytes - file_.FooterOffset()));
  for (const RowGroupPart& g : file_.row_groups) {
    EXPECT_EQ(g.sha256, *Sha256OfFileRange(file_.local_path, g.offset, g.length));
  }
}

TEST_F(PartialReadTest, CheckingAWholeFileChecksItsRowGroupRecordsToo) {
  EXPECT_TRUE(CheckFile(file_, file_.local_path));
  SegmentFile wrong = file_;
  wrong.row_groups[1].sha256 = std::string(64, '0');
  auto checked = CheckFile(wrong, file_.local_path);
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().message,
            "archive file " + file_.key +
                " matches its checksum, but not the one its commit recorded for row group 1 "
                "(ranged reads of it are refused); this is a bug in walden, please report it "
                "with that commit");
}

TEST_F(PartialReadTest, ACopyOfSomeRowGroupsReadsExactlyThoseRowsFromOnlyTheirBytes) {
  CountingStore counting(*store_);
  const std::string cache = root_ + "/cache";
  auto copy = FetchRowGroups(counting, file_, {1}, cache);
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(*copy, cache + "/" + file_.key + ".rg-1.parquet");
  EXPECT_EQ(Summary(*copy), "122880,122880,245759");
  const std::vector<ByteRange> expected = {
      {0, 4},
      {file_.row_groups[1].offset, file_.row_groups[1].length},
      {file_.FooterOffset(), file_.bytes - file_.FooterOffset()}};
  EXPECT_EQ(counting.ranges, expected);
  EXPECT_EQ(RangesFor(file_, {1}), expected);
  // Adjacent ranges are one GET; the holes take no disk space.
  EXPECT_EQ(RangesFor(file_, {0, 1}).size(), 2u);
  struct stat info {};
  ASSERT_EQ(stat(copy->c_str(), &info), 0);
  EXPECT_LT(info.st_blocks * 512, file_.bytes - file_.row_groups[0].length / 2);

  counting.ranges.clear();
  copy = FetchRowGroups(counting, file_, {0, 2}, cache);
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(Summary(*copy), std::to_string(122880 + 54240) + ",0,299999");
  auto rows =
      conn_->Query("SELECT count(*) FROM '" + *copy + "' WHERE id BETWEEN 122880 AND 245759");
  EXPECT_EQ(rows->Text(0, 0), "0");
  EXPECT_EQ(counting.ranges.size(), 2u);  // magic + group 0 in one, group 2 + footer in one

  // A copy that exists is reused (and checked), not fetched again.
  counting.ranges.clear();
  copy = FetchRowGroups(counting, file_, {1}, cache);
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_TRUE(counting.ranges.empty());
}

TEST_F(PartialReadTest, AFileWithASmallFooterReadsToo) {
  // One column: a footer of a few hundred bytes (small writes are buffered by the stream).
  SegmentFile small{.key = "tables/public/s/dt=2026-12-03/0-1.parquet",
                    .local_path = root_ + "/small.parquet"};
  ASSERT_TRUE(conn_->Execute(
      "COPY (SELECT i::BIGINT AS id, (1000 + i)::UBIGINT AS _walden_lsn, "
      "make_timestamptz(1796256000000000 + i) AS _walden_commit_ts FROM range(300000) t(i)) TO '" +
      small.local_path + "' (FORMAT parquet, ROW_GROUP_SIZE 122880)"));
  ASSERT_TRUE(Fingerprint(*conn_, small));
  ASSERT_EQ(small.row_groups.size(), 3u);
  EXPECT_LT(small.bytes - small.FooterOffset(), 1024);
  ASSERT_TRUE(store_->PutFile(small.key, small.local_path));
  auto copy = FetchRowGroups(*store_, small, {1}, root_ + "/cache");
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(Summary(*copy), "122880,122880,245759");
}

TEST_F(PartialReadTest, DamagedBytesAreRefusedWithTheFileAndTheRowGroupNamed) {
  const std::string cache = root_ + "/cache";
  Damage(root_ + "/archive/" + file_.key, file_.row_groups[1].offset + 100);
  auto copy = FetchRowGroups(*store_, file_, {1}, cache);
  ASSERT_FALSE(copy);
  EXPECT_EQ(copy.error().message,
            "archive file " + file_.key +
                ": row group 1 does not match the checksum its commit recorded (its bytes "
                "changed after it was written); restore it from a backup of the bucket, or run "
                "`walden resync` to start the history over (walden archive verify lists every "
                "damaged file)");
  EXPECT_FALSE(fs::exists(PartialCopyPath(cache, file_, {1})));
  for (const auto& entry : fs::recursive_directory_iterator(cache)) {
    EXPECT_FALSE(entry.is_regular_file()) << entry.path();  // no temporary left
  }
  // Undamaged groups of the same file still read; a damaged local copy is noticed on reuse
  // and fetched again.
  CountingStore counting(*store_);
  copy = FetchRowGroups(counting, file_, {2}, cache);
  ASSERT_TRUE(copy) << copy.error().message;
  Damage(*copy, file_.row_groups[2].offset + 7);
  EXPECT_THAT(CheckPartialCopy(file_, {2}, *copy).error().message,
              HasSubstr("row group 2 does not match the checksum"));
  counting.ranges.clear();
  copy = FetchRowGroups(counting, file_, {2}, cache);
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(counting.ranges.size(), 2u);  // fetched again
  EXPECT_EQ(Summary(*copy), "54240,245760,299999");
}

TEST(ParquetFooterTest, MalformedFootersAreErrorsNeverCrashes) {
  auto db = duck::Database::Open(":memory:");
  auto conn = duck::Connection::Open(*db);
  const std::string path = ::testing::TempDir() + "/footer.parquet";
  ASSERT_TRUE(
      conn->Execute("COPY (SELECT i, [i, i + 1] AS l, {'a': i} AS s FROM range(20480) t(i)) TO '" +
                    path + "' (FORMAT parquet, ROW_GROUP_SIZE 2048)"));
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const auto* tail = reinterpret_cast<const unsigned char*>(bytes.data() + bytes.size() - 8);
  const size_t length = tail[0] | (tail[1] << 8) | (tail[2] << 16) | (size_t{tail[3]} << 24);
  const std::string metadata = bytes.substr(bytes.size() - 8 - length, length);
  ASSERT_EQ(CountRowGroups(metadata).value_or(0), 10u);
  auto kept = KeepRowGroups(metadata, {11});
  ASSERT_FALSE(kept);
  EXPECT_EQ(kept.error().message, "row group 11 asked of a footer with 10");
  EXPECT_EQ(CountRowGroups(metadata.substr(0, 1)).error().message,
            "malformed Parquet footer: it ends inside a value");
  EXPECT_EQ(CountRowGroups(metadata + "x").error().message,
            "malformed Parquet footer: bytes after its end");
  // Found by the fuzz target: a num_rows of another type must not be rewritten as an i64.
  EXPECT_EQ(KeepRowGroups(std::string("\x32\x61\x00", 3), {}).error().message,
            "malformed Parquet footer: num_rows is no i64");
  EXPECT_EQ(CountRowGroups(std::string("\x00", 1)).error().message,
            "malformed Parquet footer: num_rows or row_groups is missing");
  // Also found by it: a second row_groups field would be kept twice.
  EXPECT_EQ(CountRowGroups(std::string("\x36\x00\x19\x0c\x09\x08\x0c\x00", 8)).error().message,
            "malformed Parquet footer: field 4 appears twice");
  EXPECT_EQ(CountRowGroups(std::string("\x36\x00\x19\x0c\x00", 5)).value_or(99), 0u);
  // Mutations and truncations: an answer or an error, never a crash or a hang.
  std::mt19937 random(7);
  int errors = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string mutated = metadata;
    for (int flips = 1 + round % 4; flips > 0; --flips) {
      mutated[random() % mutated.size()] = static_cast<char>(random());
    }
    if (round % 5 == 0) mutated.resize(random() % mutated.size());
    errors += !KeepRowGroups(mutated, {0, 3});
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace walden::archive
