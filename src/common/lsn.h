// A PostgreSQL WAL position (XLogRecPtr), printed as PostgreSQL does ("16/B374D848") or as
// 16 upper-case hex digits that sort in WAL order (archive file names).
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace walden {

struct Lsn {
  uint64_t value = 0;

  std::string ToString() const;                            // "16/B374D848"
  std::string ToPadded() const;                            // "00000016B374D848"
  static std::optional<Lsn> Parse(std::string_view text);  // "16/B374D848"
  friend auto operator<=>(const Lsn&, const Lsn&) = default;
};

// Microseconds since 2000-01-01 (PostgreSQL's epoch) to microseconds since 1970-01-01.
constexpr int64_t kPostgresEpochOffsetMicros = 946684800LL * 1000000;
inline int64_t PgTimeToUnixMicros(int64_t pg_micros) {
  return pg_micros + kPostgresEpochOffsetMicros;
}
inline int64_t UnixMicrosToPgTime(int64_t unix_micros) {
  return unix_micros - kPostgresEpochOffsetMicros;
}

}  // namespace walden
