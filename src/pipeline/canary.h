// The freshness canary (design §6): every `canary.interval` walden writes a transactional
// logical message (prefix "walden_canary", content "<sequence> <sent µs since 1970>") to the
// source and follows it through the pipeline: received by capture, visible in the mirror
// (its merge committed), durable in the archive (its flush committed).
//
// Stale when the newest heartbeat the mirror shows was sent more than `stale_after` ago;
// the stage named is the first one the newest heartbeat has not passed. The archive flushes
// less often: it is stale after `stale_after` plus its flush interval.
// Thread-safety: one thread (the run loop); Snapshot values are plain copies.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace walden::pipeline {

inline constexpr std::string_view kCanaryPrefix = "walden_canary";

struct CanaryBeat {
  uint64_t sequence = 0;
  int64_t sent_at = 0;  // µs since 1970
};
std::string CanaryContent(const CanaryBeat& beat);
std::optional<CanaryBeat> ParseCanary(std::string_view content);

// A sink's view of heartbeats: offered as the sink sees them in transactions, visible once
// the sink made everything up to them durable.
class CanaryRelay {
 public:
  // True when the logical message is a heartbeat (it is then held until Durable()).
  bool Offer(std::string_view prefix, std::string_view content);
  // Everything offered so far is durable in the sink.
  void Durable();
  // The first `count` heartbeats still waiting are durable (a flush of what was offered
  // before it started); pending_count() is that count at the start.
  void DurableFirst(size_t count);
  size_t pending_count() const { return pending_.size(); }
  bool waiting() const { return !pending_.empty(); }
  std::vector<CanaryBeat> TakeReceived() { return std::exchange(received_, {}); }
  std::vector<CanaryBeat> TakeVisible() { return std::exchange(visible_, {}); }

 private:
  std::vector<CanaryBeat> received_, pending_, visible_;
};

struct CanaryState {
  bool enabled = false;
  bool fresh = true;
  std::string stuck;       // "", "capture", "mirror" or "archive"
  double mirror_age = -1;  // seconds since the newest heartbeat the mirror shows was sent
  double archive_age = -1;
  double last_latency = -1;  // seconds from send to mirror-visible, newest heartbeat
};

class Canary {
 public:
  Canary(std::chrono::microseconds interval, std::chrono::microseconds stale_after,
         std::chrono::microseconds archive_slack)
      : interval_(interval), stale_after_(stale_after), archive_slack_(archive_slack) {}

  // The next heartbeat when one is due at `now` (µs since 1970), else nullopt.
  std::optional<CanaryBeat> Due(int64_t now);
  void Received(const CanaryBeat& beat);
  void MirrorVisible(const CanaryBeat& beat, int64_t now);
  void ArchiveVisible(const CanaryBeat& beat);
  // Freshness at `now`; logs a warning naming the stuck stage when it turns stale, and a
  // note when it recovers.
  CanaryState Check(int64_t now);

 private:
  std::chrono::microseconds interval_, stale_after_, archive_slack_;
  int64_t started_at_ = 0;
  int64_t last_sent_at_ = 0;
  uint64_t sequence_ = 0;
  CanaryBeat received_, mirror_, archive_;
  double last_latency_ = -1;
  bool stale_ = false;
};

}  // namespace walden::pipeline
