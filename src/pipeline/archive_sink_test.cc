// The archive sink's part of exactly-once (design §2) with an object store that fails or
// stalls on command: a failure at any step of a flush (upload, definition record,
// manifest commit) never makes its changes durable, a retry writes them once, changes
// that arrive during a flush wait for the next one, and a restart skips what is archived.
#include "pipeline/archive_sink.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>

#include "duck/duckdb.h"
#include "pipeline/change_typer.h"
#include "pipeline/test_transactions.h"
#include "store/local_store.h"

namespace walden::pipeline {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A local store that fails the operations `fail` names and can hold uploads until
// released. Thread-safety: as LocalStore; the knobs are guarded.
class FaultStore final : public store::ObjectStore {
 public:
  explicit FaultStore(std::unique_ptr<store::ObjectStore> inner) : inner_(std::move(inner)) {}

  // "put:<key prefix>" or "putfile:<key prefix>" fail with kConnection while set.
  void FailOn(std::string what) {
    std::lock_guard lock(mutex_);
    fail_ = std::move(what);
  }
  void Hold(bool hold) {
    std::lock_guard lock(mutex_);
    hold_ = hold;
    released_.notify_all();
  }
  // Waits until an upload is held (a flush is in flight).
  void WaitHeld() {
    std::unique_lock lock(mutex_);
    released_.wait(lock, [&] { return holding_; });
  }

  Status Put(std::string_view key, std::string_view data) override {
    if (auto ok = Check("put:", key); !ok) return ok;
    return inner_->Put(key, data);
  }
  Status PutFile(std::string_view key, const std::string& path) override {
    if (auto ok = Check("putfile:", key); !ok) return ok;
    return inner_->PutFile(key, path);
  }
  Result<std::string> Get(std::string_view key) override { return inner_->Get(key); }
  Result<std::vector<store::ObjectInfo>> List(std::string_view prefix) override {
    return inner_->List(prefix);
  }
  Status Delete(std::string_view key) override { return inner_->Delete(key); }
  std::string url() const override { return inner_->url(); }

 private:
  Status Check(std::string_view op, std::string_view key) {
    std::unique_lock lock(mutex_);
    holding_ = hold_;
    released_.notify_all();
    // Like a network request, a held one gives up when the store is interrupted.
    while (!released_.wait_for(lock, 10ms, [&] { return !hold_ || interrupted(); })) {
    }
    holding_ = false;
    if (hold_) return Fail(ErrorKind::kConnection, "interrupted");
    if (fail_.starts_with(op) && key.starts_with(std::string_view(fail_).substr(op.size()))) {
      return Fail(ErrorKind::kConnection, "injected failure of " + std::string(key));
    }
    return {};
  }

  std::unique_ptr<store::ObjectStore> inner_;
  std::mutex mutex_;
  std::condition_variable released_;
  std::string fail_;
  bool hold_ = false;
  bool holding_ = false;
};

using testing::Items;

// Transaction `n` inserts row n; its commit LSN is 100·n.
pg::CommittedTransaction Insert(const std::shared_ptr<const pg::RelationInfo>& relation, int n) {
  return testing::InsertTxn(relation, n, {n});
}

class ArchiveSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::path(::testing::TempDir()) /
            ("archive-sink-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    auto local = store::LocalStore::Open(dir_ + "/archive");
    ASSERT_TRUE(local) << local.error().message;
    store_ = std::make_unique<FaultStore>(std::move(*local));
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<ArchiveSink> Open() {
    auto sink = ArchiveSink::Open(*store_, {.spool_path = dir_ + "/spool.duckdb",
                                            .scratch_dir = dir_ + "/segments",
                                            .flush_interval = 0us,
                                            .lease_owner = "test"});
    EXPECT_TRUE(sink) << sink.error().message;
    return sink ? std::move(*sink) : nullptr;
  }
  void Apply(ArchiveSink& sink, int from, int to) {
    Sink* const sinks[] = {&sink};
    for (int n = from; n <= to; ++n) ASSERT_TRUE(Deliver(typer_, Insert(relation_, n), sinks));
  }
  // Every row id the archive's commits name, once per time it was archived, in order
  // (files no commit names are not part of the archive: the next run quarantines them).
  std::string ArchivedIds(const ArchiveSink& sink) {
    std::string files;
    for (const auto& [key, file] : sink.state().live) {
      files += (files.empty() ? "'" : ", '") + dir_ + "/archive/" + key + "'";
    }
    auto db = duck::Database::Open(":memory:");
    auto conn = duck::Connection::Open(*db);
    auto rows = conn->Query(
        "SELECT coalesce(string_agg(id::VARCHAR, ',' ORDER BY id), '') FROM "
        "read_parquet([" +
        files + "])");
    if (!rows) return "";
    return rows->Text(0, 0).value_or("");
  }

  std::string dir_;
  std::unique_ptr<FaultStore> store_;
  std::shared_ptr<const pg::RelationInfo> relation_ = Items();
  ChangeTyper typer_;
};

TEST_F(ArchiveSinkTest, AFailedUploadConfirmsNothingAndItsRetryWritesOnce) {
  auto sink = Open();
  Apply(*sink, 1, 3);
  store_->FailOn("putfile:tables/");
  EXPECT_EQ(sink->Flush().error().message,
            "injected failure of tables/public/items/dt=2000-01-01/"
            "0000000000000064-000000000000012C.parquet");
  EXPECT_EQ(sink->durable_end(), Lsn{});
  Apply(*sink, 4, 4);  // arrives while the failed flush waits for its retry
  store_->FailOn("");
  ASSERT_TRUE(sink->Flush());
  EXPECT_EQ(sink->durable_end(), Lsn{408});
  EXPECT_EQ(ArchivedIds(*sink), "1,2,3,4");
}

TEST_F(ArchiveSinkTest, AFailedManifestCommitConfirmsNothingAndARestartSkipsWhatIsArchived) {
  {
    auto sink = Open();
    Apply(*sink, 1, 2);
    store_->FailOn("put:_walden/commits/");
    ASSERT_FALSE(sink->Flush());
    EXPECT_EQ(sink->durable_end(), Lsn{});
    store_->FailOn("");
    ASSERT_TRUE(sink->Flush());
    EXPECT_EQ(sink->durable_end(), Lsn{208});
    Apply(*sink, 3, 3);
    store_->FailOn("put:_walden/commits/");
    ASSERT_FALSE(sink->Flush());  // killed here: 3 was uploaded, never committed
  }
  store_->FailOn("");
  auto again = Open();
  EXPECT_EQ(again->durable_end(), Lsn{208});
  Apply(*again, 1, 4);  // the slot sends everything after the confirmed position again
  ASSERT_TRUE(again->Flush());
  EXPECT_EQ(again->durable_end(), Lsn{408});
  EXPECT_EQ(ArchivedIds(*again), "1,2,3,4");
}

TEST_F(ArchiveSinkTest, ChangesDuringAFlushWaitForTheNextOneAndNeverWaitForTheStore) {
  auto sink = Open();
  Apply(*sink, 1, 2);
  store_->Hold(true);
  ASSERT_TRUE(sink->FlushIfDue());  // starts the flush on its thread and returns
  store_->WaitHeld();
  EXPECT_TRUE(sink->flushing());
  Apply(*sink, 3, 5);
  ASSERT_TRUE(sink->FlushIfDue());  // does not wait for the held upload
  EXPECT_EQ(sink->durable_end(), Lsn{});
  store_->Hold(false);
  while (sink->flushing()) ASSERT_TRUE(sink->FlushIfDue());
  EXPECT_EQ(sink->durable_end(), Lsn{208});  // the sealed generation only
  ASSERT_TRUE(sink->Flush());
  EXPECT_EQ(sink->durable_end(), Lsn{508});
  EXPECT_EQ(ArchivedIds(*sink), "1,2,3,4,5");
}

TEST_F(ArchiveSinkTest, AStopInterruptsAFlushThatWaitsOnTheStore) {
  auto sink = Open();
  Apply(*sink, 1, 1);
  store_->Hold(true);  // the store never answers
  const auto started = std::chrono::steady_clock::now();
  auto flushed = sink->FlushBy(started + 200ms);
  ASSERT_FALSE(flushed);
  EXPECT_EQ(flushed.error().message, "interrupted");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(sink->durable_end(), Lsn{});
}

}  // namespace
}  // namespace walden::pipeline
