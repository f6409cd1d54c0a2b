// Internal to verify: one table of the source compared with its state rebuilt from the
// archive (Options::archive; the method is described there).
// Thread-safety: one thread; the connections are the caller's for the check's lifetime.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "verify/table_check.h"

namespace walden::verify {

class ArchiveCheck {
 public:
  // `work`: a connection on a scratch database, the one `check` loads the source into.
  ArchiveCheck(TableCheck& check, duck::Connection& work, const ArchiveAccess& archive)
      : check_(check), work_(work), archive_(archive) {}
  ~ArchiveCheck();  // detaches and removes the rebuilt file
  ArchiveCheck(const ArchiveCheck&) = delete;
  ArchiveCheck& operator=(const ArchiveCheck&) = delete;
  Status Keyed(const std::function<void(const ChunkReport&)>& report);
  Status Keyless(const std::function<void(const ChunkReport&)>& report);

 private:
  // The whole table in one snapshot into temp.verify_src; its position.
  Result<Lsn> ReadWhole(int64_t& rows);
  // The rows of these keys in one snapshot into temp.verify_src; its position.
  Result<Lsn> ReadKeys(const std::vector<KeyValues>& keys);
  Status WaitDurable(Lsn lsn);
  // The table as of `lsn` from the archive, attached as "archive" and compared with.
  Status Rebuild(Lsn lsn);
  // temp.verify_recheck: the keys later compares and version reads are restricted to.
  Status SetRecheck(const std::vector<KeyValues>& keys);
  // Keys whose row differs between temp.verify_src and the archive (of the recheck keys
  // only when `restricted`).
  Result<std::map<KeyValues, DiffKind>> Compare(bool restricted);
  // The row versions temp.verify_src holds for the recheck keys.
  Result<std::map<KeyValues, std::string>> Versions();
  std::string OnKeys(const std::string& left, bool left_loaded, const std::string& right) const;

  TableCheck& check_;
  duck::Connection& work_;
  const ArchiveAccess& archive_;
  int rebuilds_ = 0;
  std::string attached_;  // the rebuilt file attached as "archive"
};

}  // namespace walden::verify
