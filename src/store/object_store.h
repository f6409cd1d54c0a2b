// Where the archive's files live: a local directory or an S3-compatible bucket, behind one
// small interface (design §3). Keys are '/'-separated relative paths.
//
// Contract: Put is atomic (a reader sees the whole object or none); List returns keys in
// lexicographic order; Delete of an absent key succeeds; Get of an absent key is kNotFound.
// Errors say which object and what to check; credentials never appear in them.
// Thread-safety: implementations are safe to use from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/error.h"

namespace walden::store {

struct ObjectInfo {
  std::string key;
  int64_t size = 0;
  int64_t modified_us = 0;  // last modification, µs since 1970
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual Status Put(std::string_view key, std::string_view data) = 0;
  // Uploads a local file (large segments without holding them in memory).
  virtual Status PutFile(std::string_view key, const std::string& path) = 0;
  virtual Result<std::string> Get(std::string_view key) = 0;
  // `length` bytes from `offset` (a ranged GET); bytes past the object's end are an error.
  // The default reads the whole object (stores for tests).
  virtual Result<std::string> GetRange(std::string_view key, int64_t offset, int64_t length);
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  virtual Status Delete(std::string_view key) = 0;
  // The store's URL, for messages ("file:///var/lib/walden/archive", "s3://bucket/prefix").
  virtual std::string url() const = 0;
  // From now on, requests waiting on the network (a transfer, a retry's backoff) give up
  // at once with kConnection: a stop must not wait for an unreachable store. Local stores
  // finish what they do (their writes do not wait on a network).
  void Interrupt() { interrupted_ = true; }

 protected:
  bool interrupted() const { return interrupted_.load(); }

 private:
  std::atomic<bool> interrupted_{false};
};

// file:///path or s3://bucket/prefix (endpoint, region and addressing from the config;
// credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
Result<std::unique_ptr<ObjectStore>> OpenStore(const ArchiveConfig& config);

// Whether the store's objects are files on this machine (a file:// store): LocalPath gives
// them in place, so a reader must never remove what it returns, and nothing is downloaded.
bool IsLocal(const ObjectStore& store);

// A local file holding the object: the file itself in a file:// store, else a copy
// downloaded once into `cache_dir` under the same key (for readers such as DuckDB).
Result<std::string> LocalPath(ObjectStore& store, const std::string& key,
                              const std::string& cache_dir);

// Removes the least recently used files under `cache_dir` (LocalPath marks a file used by
// its modification time) until they total at most `limit` bytes, sparing files used within
// `spare` (a query in flight may still read them): a soft limit. Returns the bytes removed.
Result<int64_t> TrimCache(const std::string& cache_dir, int64_t limit, std::chrono::seconds spare);

// Rejects keys that could escape the store: empty, absolute, "..", empty segments.
Status ValidateKey(std::string_view key);

}  // namespace walden::store
