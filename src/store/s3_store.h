// ObjectStore on an S3-compatible bucket over libcurl: SigV4 by libcurl's own signer with
// an explicit x-amz-content-sha256, path-style or virtual-hosted addressing, a custom
// endpoint and region, ListObjectsV2 with continuation, and retries with capped
// exponential backoff on 5xx, 429 and network errors. 403 and missing buckets fail at once
// with what to check. Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN and never appear in errors or logs.
// Thread-safety: safe for concurrent use; each request uses its own curl handle.
#pragma once

#include <chrono>

#include "store/object_store.h"

namespace walden::store {

struct S3Options {
  std::string bucket;
  std::string prefix;    // without leading or trailing '/'
  std::string endpoint;  // empty: AWS (https://s3.<region>.amazonaws.com)
  std::string region = "us-east-1";
  bool path_style = false;
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  int max_attempts = 8;
  int list_page_size = 1000;  // ListObjectsV2 max-keys
  std::chrono::milliseconds max_backoff{5000};
};

class S3Store final : public ObjectStore {
 public:
  static Result<std::unique_ptr<S3Store>> Open(S3Options options);

  Status Put(std::string_view key, std::string_view data) override;
  Status PutFile(std::string_view key, const std::string& path) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, int64_t offset, int64_t length) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  std::string url() const override;

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  // A request's body: bytes in memory, or a file read in pieces while it is sent, so that
  // a segment (one big transaction's may be far past archive.flush_size) never has to fit
  // in memory.
  struct Payload {
    std::string_view bytes;
    std::string file;  // when set, the body is this file's content
    uint64_t file_size = 0;
    std::string file_sha256;
    std::string range;  // a GET's Range header value ("bytes=0-99"), when set
  };
  explicit S3Store(S3Options options) : options_(std::move(options)) {}
  std::string ObjectUrl(std::string_view key, std::string_view query = {}) const;
  std::string FullKey(std::string_view key) const;
  Result<Response> Request(const std::string& method, const std::string& url, const Payload& body,
                           const std::string& what);
  Result<Response> Once(const std::string& method, const std::string& url, const Payload& body);

  S3Options options_;
};

// Percent-encodes a key for a URL path, keeping '/' (S3's canonical URI rules).
std::string EncodeKey(std::string_view key);

}  // namespace walden::store
