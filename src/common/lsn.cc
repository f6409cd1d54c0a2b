#include "common/lsn.h"

#include <fmt/core.h>

#include <charconv>

namespace walden {

std::string Lsn::ToString() const {
  return fmt::format("{:X}/{:X}", value >> 32, value & 0xffffffffu);
}

std::string Lsn::ToPadded() const { return fmt::format("{:016X}", value); }

std::optional<Lsn> Lsn::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) {
    return std::nullopt;
  }
  uint64_t high = 0;
  uint64_t low = 0;
  const auto h = std::from_chars(text.data(), text.data() + slash, high, 16);
  const auto l = std::from_chars(text.data() + slash + 1, text.data() + text.size(), low, 16);
  if (h.ec != std::errc() || h.ptr != text.data() + slash || l.ec != std::errc() ||
      l.ptr != text.data() + text.size() || high > 0xffffffffu || low > 0xffffffffu) {
    return std::nullopt;
  }
  return Lsn{(high << 32) | low};
}

}  // namespace walden
