#include "archive/lease_keeper.h"

#include "common/thread_name.h"

namespace walden::archive {

LeaseKeeper::LeaseKeeper(Manifest& manifest, std::string owner, std::chrono::milliseconds period,
                         std::chrono::seconds ttl)
    : manifest_(manifest), owner_(std::move(owner)), period_(period), ttl_(ttl) {
  thread_ = std::thread([this] {
    SetThreadName("wal-lease");
    Loop();
  });
}

LeaseKeeper::~LeaseKeeper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::optional<Error> LeaseKeeper::TakeProblem() {
  std::lock_guard lock(mutex_);
  return std::exchange(problem_, std::nullopt);
}

void LeaseKeeper::Loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    lock.unlock();
    auto renewed = manifest_.AcquireLease(owner_, ttl_);
    lock.lock();
    if (!renewed) problem_ = renewed.error();
  }
}

}  // namespace walden::archive
