#include "pipeline/canary.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace walden::pipeline {

std::string CanaryContent(const CanaryBeat& beat) {
  return fmt::format("{} {}", beat.sequence, beat.sent_at);
}

std::optional<CanaryBeat> ParseCanary(std::string_view content) {
  CanaryBeat beat;
  const size_t space = content.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const char* begin = content.data();
  auto a = std::from_chars(begin, begin + space, beat.sequence);
  auto b = std::from_chars(begin + space + 1, begin + content.size(), beat.sent_at);
  if (a.ec != std::errc() || b.ec != std::errc() || b.ptr != begin + content.size()) {
    return std::nullopt;
  }
  return beat;
}

bool CanaryRelay::Offer(std::string_view prefix, std::string_view content) {
  if (prefix != kCanaryPrefix) return false;
  if (auto beat = ParseCanary(content)) {
    received_.push_back(*beat);
    pending_.push_back(*beat);
  }
  return true;
}

void CanaryRelay::Durable() { DurableFirst(pending_.size()); }

void CanaryRelay::DurableFirst(size_t count) {
  const auto end = pending_.begin() + static_cast<std::ptrdiff_t>(std::min(count, pending_.size()));
  visible_.insert(visible_.end(), pending_.begin(), end);
  pending_.erase(pending_.begin(), end);
}

std::optional<CanaryBeat> Canary::Due(int64_t now) {
  if (started_at_ == 0) started_at_ = now;
  if (now - last_sent_at_ < interval_.count()) return std::nullopt;
  last_sent_at_ = now;
  return CanaryBeat{++sequence_, now};
}

void Canary::Received(const CanaryBeat& beat) {
  if (beat.sequence > received_.sequence) received_ = beat;
}

void Canary::MirrorVisible(const CanaryBeat& beat, int64_t now) {
  if (beat.sequence <= mirror_.sequence) return;
  mirror_ = beat;
  last_latency_ = static_cast<double>(now - beat.sent_at) / 1e6;
}

void Canary::ArchiveVisible(const CanaryBeat& beat) {
  if (beat.sequence > archive_.sequence) archive_ = beat;
}

CanaryState Canary::Check(int64_t now) {
  CanaryState state{.enabled = true, .last_latency = last_latency_};
  // Before the first heartbeat arrives, age counts from the start.
  const int64_t mirror_from = mirror_.sequence ? mirror_.sent_at : started_at_;
  const int64_t archive_from = archive_.sequence ? archive_.sent_at : started_at_;
  state.mirror_age = static_cast<double>(now - mirror_from) / 1e6;
  state.archive_age = static_cast<double>(now - archive_from) / 1e6;
  const double limit = static_cast<double>(stale_after_.count()) / 1e6;
  const double archive_limit = limit + static_cast<double>(archive_slack_.count()) / 1e6;
  if (state.mirror_age > limit) {
    state.stuck = received_.sequence > mirror_.sequence ? "mirror" : "capture";
  } else if (state.archive_age > archive_limit) {
    state.stuck = "archive";
  }
  state.fresh = state.stuck.empty();
  if (!state.fresh && !stale_) {
    const bool archive = state.stuck == "archive";
    spdlog::warn(
        "canary: stale: the newest heartbeat in the {} was sent {:.1f} s ago (limit {:.0f} s); "
        "stuck at the {} ({})",
        archive ? "archive" : "mirror", archive ? state.archive_age : state.mirror_age,
        archive ? archive_limit : limit, state.stuck,
        state.stuck == "capture"  ? "heartbeats are written but not received from the slot"
        : state.stuck == "mirror" ? "heartbeats are received but merges do not commit"
                                  : "heartbeats are merged but archive flushes do not commit");
  } else if (state.fresh && stale_) {
    spdlog::info("canary: fresh again ({:.1f} s)", state.mirror_age);
  }
  stale_ = !state.fresh;
  return state;
}

}  // namespace walden::pipeline
