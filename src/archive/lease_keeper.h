// Keeps the archive's single-writer lease (Manifest::AcquireLease) alive from a thread of
// its own. The run loop used to renew it between rounds; one round busy for longer than the
// lease (a mirror merge of millions of changes can take minutes) let it lapse, and another
// walden could then have taken the archive. Renews every `period` for `ttl`; the first
// failure that retrying cannot fix (another writer holds the lease) is kept for the owner to
// act on, and a lost store is retried on the next period.
//
// Thread-safety: TakeProblem from any one thread; the keeper's own thread only touches the
// store (Manifest::AcquireLease reads and writes nothing else).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "archive/manifest.h"
#include "common/error.h"

namespace walden::archive {

class LeaseKeeper {
 public:
  LeaseKeeper(Manifest& manifest, std::string owner, std::chrono::milliseconds period,
              std::chrono::seconds ttl);
  ~LeaseKeeper();  // stops the thread; the lease stays until it expires or is taken over
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // The last renewal's error, once (kConnection while the store is away: renewals go on).
  std::optional<Error> TakeProblem();

 private:
  void Loop();

  Manifest& manifest_;
  const std::string owner_;
  const std::chrono::milliseconds period_;
  const std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<Error> problem_;
  std::thread thread_;
};

}  // namespace walden::archive
