// A seeded, reproducible random workload over six tables that between them cover every
// type of design §7, key changes, deletes, unchanged-TOAST updates, REPLICA IDENTITY FULL
// with duplicate rows, an insert-only table, TRUNCATE and DDL interleaved with changes.
// Thread-safety: one thread per Workload.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/identifiers.h"

namespace walden::testing {

class MirrorWorkload {
 public:
  explicit MirrorWorkload(uint32_t seed) : random_(seed), seed_(seed) {}

  // Types and tables, created before walden's slot.
  static std::string SetupSql();
  static std::vector<QualifiedName> Tables();

  // One transaction's statements (BEGIN/COMMIT included); `step` of `steps` places the DDL.
  std::string Transaction(int step, int steps);

 private:
  int64_t Pick(int64_t n) { return static_cast<int64_t>(random_() % static_cast<uint64_t>(n)); }
  std::string TypedRow(int64_t id);
  std::string TypedChange();
  std::string AccountChange();
  std::string MoveChange();
  std::string PairChange();
  std::string FullChange();
  std::string LogChange();
  std::string Ddl(int step, int steps);

  std::mt19937_64 random_;
  uint32_t seed_;
  bool accounts_extra_ = false;
  bool typed_dropped_vc_ = false;
  bool moves_renamed_ = false;
  bool typed_late_ = false;
};

}  // namespace walden::testing
