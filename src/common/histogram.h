// A latency histogram with fixed buckets from 1 ms to 60 s (Prometheus-style cumulative
// buckets plus count and sum), for commit→mirror and commit→archive latency.
//
// Thread-safety: Observe and Snapshot may be called from any thread (one mutex; a few
// hundred observations per second at most, one per source transaction).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace walden {

class Histogram {
 public:
  // Upper bounds in seconds; +Inf is implicit.
  static constexpr std::array<double, 16> kBounds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};
  struct Snapshot {
    std::array<uint64_t, kBounds.size() + 1> counts{};  // per bucket, not cumulative; last +Inf
    uint64_t count = 0;
    double sum = 0;  // seconds
    double max = 0;  // seconds
    // Estimated by linear interpolation inside the bucket that holds quantile q.
    double Quantile(double q) const;
  };

  void Observe(double seconds);
  Snapshot Take() const;

 private:
  mutable std::mutex mutex_;
  Snapshot data_;
};

}  // namespace walden
