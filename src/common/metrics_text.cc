#include "common/metrics_text.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "common/strings.h"

namespace walden {

double Buckets::Quantile(double q) const {
  // Back into walden's per-bucket form (the bounds /metrics prints are Histogram::kBounds).
  Histogram::Snapshot snapshot{.count = count(), .max = MaxBound()};
  uint64_t below = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    const auto at =
        std::lower_bound(Histogram::kBounds.begin(), Histogram::kBounds.end(), bounds[i]) -
        Histogram::kBounds.begin();
    snapshot.counts[static_cast<size_t>(at)] += cumulative[i] - below;
    below = cumulative[i];
  }
  return snapshot.Quantile(q);
}

double Buckets::MaxBound() const {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (cumulative[i] == count()) return bounds[i];
  }
  return 0;
}

nlohmann::ordered_json Buckets::ToJson() const {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < bounds.size(); ++i) {
    out.push_back(
        {std::isinf(bounds[i]) ? nlohmann::ordered_json("+Inf") : nlohmann::ordered_json(bounds[i]),
         cumulative[i]});
  }
  return out;
}

std::map<std::string, Buckets> ParseHistograms(const std::string& text) {
  std::map<std::string, Buckets> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find("_bucket{le=\"");
    if (line.starts_with("#") || at == std::string::npos) continue;
    const size_t quote = line.find('"', at + 12);
    const size_t space = line.rfind(' ');
    if (quote == std::string::npos || space == std::string::npos) continue;
    const std::string le = line.substr(at + 12, quote - at - 12);
    const auto bound =
        le == "+Inf" ? std::optional(std::numeric_limits<double>::infinity()) : ParseDouble(le);
    const auto count = ParseUint64(line.substr(space + 1));
    if (!bound || !count) continue;  // not a line walden writes
    Buckets& buckets = out[line.substr(0, at)];
    buckets.bounds.push_back(*bound);
    buckets.cumulative.push_back(*count);
  }
  return out;
}

Buckets Delta(const Buckets& after, const Buckets& before) {
  Buckets out = after;
  if (before.cumulative.size() != after.cumulative.size()) return out;
  for (size_t i = 0; i < out.cumulative.size(); ++i) out.cumulative[i] -= before.cumulative[i];
  return out;
}

}  // namespace walden
