// The changes of one open transaction: in memory, and on disk once they spilled.
// Internal to the assembler. Thread-safety: one thread at a time.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pg/assembler.h"

namespace walden::pg {

class TransactionBuffer {
 public:
  explicit TransactionBuffer(uint32_t xid) : xid_(xid) {}
  ~TransactionBuffer();

  uint32_t xid() const { return xid_; }
  size_t memory_bytes() const { return memory_bytes_; }
  size_t count() const { return count_; }

  // Returns the bytes of memory the change added.
  size_t Add(Change change);
  // Drops the changes of an aborted subtransaction; returns the memory freed.
  size_t AbortSubtransaction(uint32_t subxid);
  // Moves the in-memory changes to the spill file; returns bytes written.
  Result<size_t> Spill(const std::string& path);
  Status ForEach(const std::function<Status(const Change&)>& visit) const;

 private:
  static size_t Footprint(const Change& change);
  uint32_t RelationIndex(const std::shared_ptr<const RelationInfo>& relation);
  void Serialize(const Change& change, std::string& out);
  Result<Change> Deserialize(std::string_view record) const;

  uint32_t xid_;
  std::vector<Change> changes_;
  size_t memory_bytes_ = 0;
  size_t count_ = 0;
  std::set<uint32_t> aborted_;
  // Spilled changes refer to relation versions by index into this table.
  std::vector<std::shared_ptr<const RelationInfo>> relations_;
  std::unordered_map<const RelationInfo*, uint32_t> relation_index_;
  std::string spill_path_;
  std::FILE* spill_ = nullptr;
};

}  // namespace walden::pg
