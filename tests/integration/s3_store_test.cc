// The S3 object store against a real S3 protocol server (s3rver): round trips with hostile
// keys, paging, clear errors, and outages. s3rver checks access keys but not SigV4
// signatures themselves (its V4 verification is unimplemented), so signing is libcurl's.
#include "store/s3_store.h"

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "store/object_store.h"
#include "tests/support/s3_server.h"

namespace walden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

class S3StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = S3Server::Start("walden-test");
    ASSERT_TRUE(server) << server.error().message;
    server_ = server->release();
  }
  static void TearDownTestSuite() { delete server_; }

  store::S3Options Options(std::string prefix = "archive") {
    return {.bucket = "walden-test",
            .prefix = std::move(prefix),
            .endpoint = server_->endpoint(),
            .path_style = true,
            .access_key = S3Server::kAccessKey,
            .secret_key = S3Server::kSecretKey,
            .max_attempts = 3,
            .max_backoff = 200ms};
  }
  static S3Server* server_;
};
S3Server* S3StoreTest::server_ = nullptr;

TEST_F(S3StoreTest, RoundTripsHostileKeysAndPagesThroughListings) {
  auto options = Options("round trip");
  options.list_page_size = 2;
  auto s3 = store::S3Store::Open(options);
  ASSERT_TRUE(s3) << s3.error().message;
  const std::vector<std::string> keys = {
      "tables/Weird Schema/Sélect/dt=2026-11-21/0000000001-0000000002.parquet",
      "tables/public/a\"b'c&d+e=f/x.parquet", "_walden/commits/00000000000000000001.json",
      "_walden/commits/00000000000000000002.json", "tables/public/orders/ünïcode ✓.parquet"};
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE((*s3)->Put(keys[i], std::string(i + 1, 'x'))) << keys[i];
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto data = (*s3)->Get(keys[i]);
    ASSERT_TRUE(data) << keys[i] << ": " << data.error().message;
    EXPECT_EQ(*data, std::string(i + 1, 'x'));
  }
  auto listed = (*s3)->List("");
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> got;
  for (const auto& object : *listed) got.push_back(object.key);
  EXPECT_EQ(got, sorted);
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (const auto& object : *listed) {
    EXPECT_LE(std::abs(now_us - object.modified_us), 60'000'000) << object.key;
  }
  EXPECT_EQ((*s3)->List("_walden/").value().size(), 2u);
  ASSERT_TRUE((*s3)->Delete(keys[2]));
  ASSERT_TRUE((*s3)->Delete(keys[2]));
  auto gone = (*s3)->Get(keys[2]);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::kNotFound);
}

// A file is sent in pieces from disk (never read into memory whole): the object holds its
// exact bytes, also for a file bigger than libcurl's upload buffer many times over.
TEST_F(S3StoreTest, PutFileSendsTheFileExactly) {
  auto s3 = store::S3Store::Open(Options("put file"));
  ASSERT_TRUE(s3) << s3.error().message;
  const std::string path = ::testing::TempDir() + "/walden-s3-put-file.bin";
  std::string content(3 << 20, '\0');
  std::mt19937 random(11);
  for (char& c : content) c = static_cast<char>(random());
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_TRUE((*s3)->PutFile("tables/public/big.parquet", path));
  auto data = (*s3)->Get("tables/public/big.parquet");
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_EQ(data->size(), content.size());
  EXPECT_TRUE(*data == content);
  std::ofstream(path + ".empty");
  ASSERT_TRUE((*s3)->PutFile("tables/public/empty.parquet", path + ".empty"));
  EXPECT_EQ((*s3)->Get("tables/public/empty.parquet").value(), "");
  auto missing = (*s3)->PutFile("tables/public/x.parquet", path + ".missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::kIo);
  EXPECT_THAT(missing.error().message, HasSubstr(path + ".missing"));
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".empty");
  // Ranged GETs: exactly the bytes asked for; a range past the end is an error.
  auto range = (*s3)->GetRange("tables/public/big.parquet", 1000000, 4096);
  ASSERT_TRUE(range) << range.error().message;
  EXPECT_TRUE(*range == content.substr(1000000, 4096));
  EXPECT_TRUE((*s3)->GetRange("tables/public/big.parquet", 0, 4).value() == content.substr(0, 4));
  auto past = (*s3)->GetRange("tables/public/big.parquet", content.size() - 2, 4);
  ASSERT_FALSE(past);
  EXPECT_THAT(past.error().message, HasSubstr(fmt::format("cannot get bytes {}-{} of s3://",
                                                          content.size() - 2, content.size() + 1)));
}

TEST_F(S3StoreTest, WrongKeyIsAccessDeniedWithoutTheSecret) {
  auto options = Options();
  options.access_key = "NOT-A-KEY";
  options.secret_key = "NotTheSecret123";
  auto s3 = store::S3Store::Open(options);
  ASSERT_FALSE(s3);
  EXPECT_EQ(s3.error().kind, ErrorKind::kPermission);
  EXPECT_THAT(s3.error().message,
              HasSubstr("access denied: cannot list bucket walden-test (InvalidAccessKeyId); "
                        "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, archive.region and the "
                        "bucket policy"));
  EXPECT_THAT(s3.error().message, Not(HasSubstr("NotTheSecret123")));
}

TEST_F(S3StoreTest, MissingBucketAndMissingCredentials) {
  auto options = Options();
  options.bucket = "no-such-bucket";
  auto s3 = store::S3Store::Open(options);
  ASSERT_FALSE(s3);
  EXPECT_EQ(s3.error().message,
            "bucket no-such-bucket does not exist; create it or fix archive.url");
  options = Options();
  options.access_key.clear();
  EXPECT_EQ(store::S3Store::Open(options).error().message,
            "S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
}

TEST_F(S3StoreTest, RetriesThroughAnOutageAndGivesUpClearly) {
  auto options = Options("outage");
  options.max_attempts = 30;
  auto s3 = store::S3Store::Open(options);
  ASSERT_TRUE(s3) << s3.error().message;
  server_->Stop();
  std::thread restart([&] {
    std::this_thread::sleep_for(1500ms);
    ASSERT_TRUE(server_->Restart());
  });
  EXPECT_TRUE((*s3)->Put("during-outage", "kept"));  // retried until the server is back
  restart.join();
  EXPECT_EQ((*s3)->Get("during-outage").value(), "kept");

  auto impatient = Options("outage");
  impatient.max_attempts = 2;
  auto short_lived = store::S3Store::Open(impatient);
  ASSERT_TRUE(short_lived);
  server_->Stop();
  auto failed = (*short_lived)->Put("never", "x");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kConnection);
  EXPECT_THAT(failed.error().message, HasSubstr("cannot put s3://walden-test/outage/never after "
                                                "2 attempts: "));
  ASSERT_TRUE(server_->Restart());
}

TEST_F(S3StoreTest, OpenStoreChoosesByUrl) {
  setenv("AWS_ACCESS_KEY_ID", S3Server::kAccessKey, 1);
  setenv("AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey, 1);
  auto s3 = store::OpenStore(
      {.url = "s3://walden-test/by-url/", .endpoint = server_->endpoint(), .region = "us-east-1"});
  ASSERT_TRUE(s3) << s3.error().message;
  EXPECT_EQ((*s3)->url(), "s3://walden-test/by-url");
  ASSERT_TRUE((*s3)->Put("k", "v"));
  auto local = store::OpenStore({.url = "file://" + ::testing::TempDir() + "/by-url"});
  ASSERT_TRUE(local) << local.error().message;
  ASSERT_TRUE((*local)->Put("k", "v"));
  EXPECT_EQ((*local)->Get("k").value(), "v");
}

}  // namespace
}  // namespace walden::testing
