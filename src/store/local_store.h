// ObjectStore on a local directory: each Put writes a temporary file next to the target,
// fsyncs it, renames it into place and fsyncs the directory, so a crash leaves either the
// old object or the new one. Thread-safety: safe for concurrent use (no shared state).
#pragma once

#include <optional>

#include "store/object_store.h"

namespace walden::store {

class LocalStore final : public ObjectStore {
 public:
  static Result<std::unique_ptr<LocalStore>> Open(const std::string& root);

  Status Put(std::string_view key, std::string_view data) override;
  Status PutFile(std::string_view key, const std::string& path) override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::string> GetRange(std::string_view key, int64_t offset, int64_t length) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  std::string url() const override { return "file://" + root_; }

 private:
  explicit LocalStore(std::string root) : root_(std::move(root)) {}
  Status WriteAtomically(std::string_view key, std::string_view data, const std::string* source);
  // `length` bytes from `offset`, or (nullopt) the whole object.
  Result<std::string> Read(std::string_view key, int64_t offset, std::optional<int64_t> length);
  std::string root_;
};

}  // namespace walden::store
