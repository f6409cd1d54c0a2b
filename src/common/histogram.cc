#include "common/histogram.h"

#include <algorithm>

namespace walden {

void Histogram::Observe(double seconds) {
  seconds = std::max(seconds, 0.0);
  const size_t bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
  std::lock_guard lock(mutex_);
  ++data_.counts[bucket];
  ++data_.count;
  data_.sum += seconds;
  data_.max = std::max(data_.max, seconds);
}

Histogram::Snapshot Histogram::Take() const {
  std::lock_guard lock(mutex_);
  return data_;
}

double Histogram::Snapshot::Quantile(double q) const {
  if (count == 0) return 0;
  const double rank = q * static_cast<double>(count);
  double seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    if (seen + static_cast<double>(counts[i]) >= rank) {
      const double lower = i == 0 ? 0 : kBounds[i - 1];
      const double upper = i < kBounds.size() ? kBounds[i] : max;
      const double within = (rank - seen) / static_cast<double>(counts[i]);
      return std::min(lower + (upper - lower) * within, max);
    }
    seen += static_cast<double>(counts[i]);
  }
  return max;
}

}  // namespace walden
