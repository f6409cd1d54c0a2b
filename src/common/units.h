// Parsing and formatting of durations ("100ms", "10s") and byte sizes ("64MB").
// Sizes use binary multiples, as PostgreSQL does: 1kB = 1024 bytes, 1MB = 1024 kB.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace walden {

using Duration = std::chrono::microseconds;

// On failure, the error holds what was expected (for the caller's message).
std::expected<Duration, std::string> ParseDuration(std::string_view text);
std::expected<int64_t, std::string> ParseSize(std::string_view text);

std::string FormatDuration(Duration d);
// "2026-11-21T06:13:37.123456Z" (or without the fraction) from µs since 1970-01-01 UTC.
std::string FormatUtcTime(int64_t unix_micros, bool with_micros = true);
// The wall clock now, in µs since 1970-01-01 UTC.
int64_t UnixNowMicros();
std::string FormatSize(int64_t bytes);

}  // namespace walden
