#include "common/units.h"

#include <fmt/chrono.h>

#include <charconv>
#include <ctime>
#include <limits>
#include <utility>

#include "common/strings.h"

namespace walden {
namespace {

constexpr std::string_view kDurationExpected =
    "a whole number followed by a unit (us, ms, s, m, h or d), e.g. \"100ms\" or \"10s\"";
constexpr std::string_view kSizeExpected =
    "a whole number followed by a unit (B, kB, MB, GB or TB), e.g. \"64MB\"";

// Splits "123unit" into 123 and "unit"; nullopt when there is no leading number.
std::optional<std::pair<int64_t, std::string>> SplitNumber(std::string_view text) {
  text = Trim(text);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data() || value < 0) return std::nullopt;
  return std::pair{value, std::string(Trim(std::string_view(end, text.data() + text.size())))};
}

std::optional<int64_t> CheckedMultiply(int64_t value, int64_t factor) {
  if (value > std::numeric_limits<int64_t>::max() / factor) return std::nullopt;
  return value * factor;
}

}  // namespace

std::expected<Duration, std::string> ParseDuration(std::string_view text) {
  const auto parts = SplitNumber(text);
  if (!parts) return std::unexpected(std::string(kDurationExpected));
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"us", 1},         {"ms", 1000},      {"s", 1000000},    {"m", 60000000},
      {"min", 60000000}, {"h", 3600000000}, {"d", 86400000000}};
  for (const auto& [unit, factor] : kUnits) {
    if (parts->second == unit) {
      const auto micros = CheckedMultiply(parts->first, factor);
      if (!micros) return std::unexpected("a duration of at most 100 years");
      return Duration(*micros);
    }
  }
  return std::unexpected(std::string(kDurationExpected));
}

std::expected<int64_t, std::string> ParseSize(std::string_view text) {
  const auto parts = SplitNumber(text);
  if (!parts) return std::unexpected(std::string(kSizeExpected));
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {{"B", 1},
                                                                    {"kB", int64_t{1} << 10},
                                                                    {"KB", int64_t{1} << 10},
                                                                    {"KiB", int64_t{1} << 10},
                                                                    {"MB", int64_t{1} << 20},
                                                                    {"MiB", int64_t{1} << 20},
                                                                    {"GB", int64_t{1} << 30},
                                                                    {"GiB", int64_t{1} << 30},
                                                                    {"TB", int64_t{1} << 40},
                                                                    {"TiB", int64_t{1} << 40}};
  for (const auto& [unit, factor] : kUnits) {
    if (parts->second == unit) {
      const auto bytes = CheckedMultiply(parts->first, factor);
      if (!bytes) return std::unexpected("a size below 8 EiB");
      return *bytes;
    }
  }
  return std::unexpected(std::string(kSizeExpected));
}

std::string FormatDuration(Duration d) {
  const int64_t us = d.count();
  if (us % 3600000000 == 0 && us != 0) return std::to_string(us / 3600000000) + "h";
  if (us % 60000000 == 0 && us != 0) return std::to_string(us / 60000000) + "m";
  if (us % 1000000 == 0 && us != 0) return std::to_string(us / 1000000) + "s";
  if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

std::string FormatUtcTime(int64_t unix_micros, bool with_micros) {
  const int64_t fraction = ((unix_micros % 1000000) + 1000000) % 1000000;
  const std::time_t seconds = (unix_micros - fraction) / 1000000;
  return with_micros ? fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", fmt::gmtime(seconds), fraction)
                     : fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(seconds));
}

std::string FormatSize(int64_t bytes) {
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {{"TB", int64_t{1} << 40},
                                                                    {"GB", int64_t{1} << 30},
                                                                    {"MB", int64_t{1} << 20},
                                                                    {"kB", int64_t{1} << 10}};
  for (const auto& [unit, factor] : kUnits) {
    if (bytes != 0 && bytes % factor == 0)
      return std::to_string(bytes / factor) + std::string(unit);
  }
  return std::to_string(bytes) + "B";
}

int64_t UnixNowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace walden
