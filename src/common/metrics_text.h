// Latency histograms read back from walden's Prometheus text (/metrics): cumulative bucket
// counts per metric, the difference of two readings, and quantiles from it (linear inside
// the bucket, as Prometheus' histogram_quantile does). Thread-safety: plain values.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/histogram.h"

namespace walden {

struct Buckets {
  std::vector<double> bounds;        // upper bounds, ascending; the last is +Inf
  std::vector<uint64_t> cumulative;  // observations <= bound

  uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  // As walden's own Histogram::Snapshot::Quantile computes it.
  double Quantile(double q) const;
  // The upper bound of the highest bucket holding an observation (max ≤ this).
  double MaxBound() const;
  nlohmann::ordered_json ToJson() const;
};

// name → buckets, for every `<name>_bucket{le="…"} N` line.
std::map<std::string, Buckets> ParseHistograms(const std::string& text);
// `after` minus `before` (the same metric read twice); `before` may be empty.
Buckets Delta(const Buckets& after, const Buckets& before);

}  // namespace walden
