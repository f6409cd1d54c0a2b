// Small string helpers used across modules (no locale, ASCII case rules).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace walden {

std::string_view Trim(std::string_view s);
std::vector<std::string> Split(std::string_view s, char separator);
std::string Join(std::span<const std::string> parts, std::string_view separator);
std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);

// Levenshtein distance; used for did-you-mean suggestions.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a plausible typo.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        std::span<const std::string> candidates);

// Joins the lines of a multi-line message (e.g. from libpq) into one line.
std::string OneLine(std::string_view message);

// A whole decimal integer (optional leading '-'); nullopt for anything else, never throws.
std::optional<int64_t> ParseInt64(std::string_view text);
// The same for unsigned integers and for decimal numbers ("12", "-1.5e3"; no "inf").
std::optional<uint64_t> ParseUint64(std::string_view text);
std::optional<double> ParseDouble(std::string_view text);

}  // namespace walden
