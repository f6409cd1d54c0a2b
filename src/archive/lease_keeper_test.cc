#include "archive/lease_keeper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "store/local_store.h"

namespace walden::archive {
namespace {

using namespace std::chrono_literals;

class LeaseKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string root = ::testing::TempDir() + "/lease-keeper";
    std::filesystem::remove_all(root);
    store_ = std::move(*store::LocalStore::Open(root));
  }
  std::unique_ptr<store::LocalStore> store_;
};

// The lease outlives its TTL as long as the keeper runs, whatever its owner's thread does;
// a writer that took it over meanwhile is reported, once.
TEST_F(LeaseKeeperTest, KeepsTheLeasePastItsTtlAndReportsATakeover) {
  Manifest manifest(*store_);
  ASSERT_TRUE(manifest.AcquireLease("writer-1", 1s));
  {
    LeaseKeeper keeper(manifest, "writer-1", 100ms, 1s);
    std::this_thread::sleep_for(2500ms);  // more than twice the TTL
    auto refused = manifest.AcquireLease("writer-2", 60s);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::kPermission);
    EXPECT_FALSE(keeper.TakeProblem());

    // Another writer (a live process on this host) holds it now.
    ASSERT_TRUE(store_->Put("_walden/lease.json",
                            R"({"owner":"writer-2","host":"elsewhere","pid":)" +
                                std::to_string(getpid()) + R"(,"expires_at":9999999999999999})"));
    std::optional<Error> problem;
    for (const auto deadline = std::chrono::steady_clock::now() + 5s;
         !problem && std::chrono::steady_clock::now() < deadline;) {
      problem = keeper.TakeProblem();
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(problem);
    EXPECT_EQ(problem->kind, ErrorKind::kPermission);
    EXPECT_TRUE(problem->message.starts_with("archive " + store_->url() +
                                             " is in use by another walden (host elsewhere, pid "))
        << problem->message;
  }
  // Stopping the keeper does not wait for a period, and leaves the lease as it was.
  EXPECT_FALSE(manifest.AcquireLease("writer-1", 60s));
}

}  // namespace
}  // namespace walden::archive
