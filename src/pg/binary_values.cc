// Parsing of PostgreSQL's binary (send/recv) forms, for pgoutput's binary mode.
#include <fmt/core.h>

#include <bit>
#include <cstring>
#include <limits>

#include "common/byte_reader.h"
#include "pg/types.h"

namespace walden::pg {
namespace {

// PostgreSQL counts binary dates and timestamps from 2000-01-01.
constexpr int32_t kPgEpochDays = 10957;
constexpr int64_t kPgEpochMicros = int64_t{kPgEpochDays} * 86400 * 1000000;

std::unexpected<Error> BadBinary(const ColumnType& type, size_t size) {
  return Fail(ErrorKind::kProtocol,
              fmt::format("cannot read {} bytes of binary data as {}", size, type.DuckDbName()));
}

// PostgreSQL's binary dates and timestamps count from 2000-01-01 and mark ±infinity with
// the type's extremes; walden's count from 1970 and use DuckDB's ±infinity.
template <class T>
std::optional<T> ShiftEpoch(T value, T offset, T infinity) {
  if (value == std::numeric_limits<T>::max()) return infinity;
  if (value == std::numeric_limits<T>::min()) return -infinity;
  T shifted = 0;
  if (__builtin_add_overflow(value, offset, &shifted) || shifted == infinity ||
      shifted == -infinity) {
    return std::nullopt;
  }
  return shifted;
}

bool IsTextOid(uint32_t oid) {
  return oid == 25 || oid == 1043 || oid == 1042 || oid == 19 || oid == 114;
}

// numeric's binary form: digit count, weight, sign, display scale, base-10000 digits.
Result<Datum> NumericFromBinary(const ColumnType& type, std::string_view bytes) {
  ByteReader r(bytes.data(), bytes.size());
  const int16_t ndigits = r.I16();
  const int16_t weight = r.I16();
  const uint16_t sign = static_cast<uint16_t>(r.I16());
  const int16_t dscale = r.I16();
  if (!r.ok() || ndigits < 0 || static_cast<size_t>(ndigits) * 2 != r.remaining() || dscale < 0) {
    return BadBinary(type, bytes.size());
  }
  std::string text;
  if (sign == 0xC000) {
    text = "NaN";
  } else if (sign == 0xD000 || sign == 0xF000) {
    text = sign == 0xD000 ? "Infinity" : "-Infinity";
  } else {
    std::vector<int16_t> digits(static_cast<size_t>(ndigits));
    for (int16_t& d : digits) d = r.I16();
    if (sign == 0x4000) text = "-";
    std::string integer;
    for (int i = 0; i <= weight; ++i) {
      const int d = i < ndigits ? digits[static_cast<size_t>(i)] : 0;
      integer += integer.empty() ? fmt::format("{}", d) : fmt::format("{:04d}", d);
    }
    text += integer.empty() ? "0" : integer;
    std::string fraction;
    for (int i = weight + 1; static_cast<int>(fraction.size()) < dscale; ++i) {
      const int d = i >= 0 && i < ndigits ? digits[static_cast<size_t>(i)] : 0;
      fraction += fmt::format("{:04d}", d);
    }
    if (dscale > 0) text += "." + fraction.substr(0, static_cast<size_t>(dscale));
  }
  return ParseText(type, text);
}

Result<Datum> ArrayFromBinary(const ColumnType& type, std::string_view bytes) {
  ByteReader r(bytes.data(), bytes.size());
  const int32_t ndim = r.I32();
  r.I32();  // has-nulls flag
  r.U32();  // element type
  if (!r.ok() || ndim < 0 || ndim > 6) return BadBinary(type, bytes.size());
  if (ndim == 0) return List{};
  if (ndim > 1) {
    return Fail(ErrorKind::kUnsupported,
                "multi-dimensional arrays in binary mode are not supported; set source.binary = "
                "false");
  }
  const int32_t count = r.I32();
  r.I32();  // lower bound
  if (!r.ok() || count < 0 || static_cast<size_t>(count) * 4 > r.remaining()) {
    return BadBinary(type, bytes.size());
  }
  List list;
  for (int32_t i = 0; i < count; ++i) {
    const int32_t length = r.I32();
    if (length == -1) {
      list.items.push_back(Null{});
      continue;
    }
    const std::string_view element = r.Bytes(static_cast<size_t>(std::max(length, 0)));
    if (!r.ok() || length < 0) return BadBinary(type, bytes.size());
    auto value = ParseBinary(*type.element, element);
    if (!value) return value;
    list.items.push_back(std::move(*value));
  }
  if (!r.AtEnd()) return BadBinary(type, bytes.size());
  return list;
}

Result<Datum> Fixed(const ColumnType& type, std::string_view bytes) {
  ByteReader r(bytes.data(), bytes.size());
  Datum out;
  switch (type.kind) {
    case TypeKind::kBool:
      out = r.U8() != 0;
      break;
    case TypeKind::kInt16:
      out = int64_t{r.I16()};
      break;
    case TypeKind::kInt32:
      out = int64_t{r.I32()};
      break;
    case TypeKind::kInt64:
      out = r.I64();
      break;
    case TypeKind::kFloat32:
      out = double{std::bit_cast<float>(r.U32())};
      break;
    case TypeKind::kFloat64:
      out = std::bit_cast<double>(r.U64());
      break;
    case TypeKind::kDate: {
      const auto days = ShiftEpoch<int32_t>(r.I32(), kPgEpochDays, Date::kInfinity);
      if (!days) return BadBinary(type, bytes.size());
      out = Date{*days};
      break;
    }
    case TypeKind::kTime:
      out = Time{r.I64()};
      break;
    case TypeKind::kTimeTz: {
      const int64_t micros = r.I64();
      const int32_t zone = r.I32();  // PostgreSQL stores the zone west of UTC
      if (zone < -86400 || zone > 86400) return BadBinary(type, bytes.size());
      out = TimeTz{micros, -zone};
      break;
    }
    case TypeKind::kTimestamp:
    case TypeKind::kTimestampTz: {
      const auto micros = ShiftEpoch<int64_t>(r.I64(), kPgEpochMicros, Timestamp::kInfinity);
      if (!micros) return BadBinary(type, bytes.size());
      out = Timestamp{*micros};
      break;
    }
    case TypeKind::kInterval: {
      const int64_t micros = r.I64();
      const int32_t days = r.I32();
      out = Interval{r.I32(), days, micros};
      break;
    }
    case TypeKind::kUuid:
      out = Uuid{(UInt128{r.U64()} << 64) | r.U64()};
      break;
    default:
      return BadBinary(type, bytes.size());
  }
  if (!r.AtEnd()) return BadBinary(type, bytes.size());
  return out;
}

}  // namespace

Result<Datum> ParseBinary(const ColumnType& type, std::string_view bytes) {
  switch (type.kind) {
    case TypeKind::kText:
      if (type.pg_oid == 1700) return NumericFromBinary(type, bytes);
      if (IsTextOid(type.pg_oid) || type.is_enum) return std::string(bytes);
      return Fail(ErrorKind::kUnsupported,
                  fmt::format("values of type {} cannot be read in binary mode (walden keeps "
                              "their text form); set source.binary = false",
                              type.pg_oid));
    case TypeKind::kJson:
      if (type.pg_oid == 3802) {  // jsonb: a version byte, then the text
        if (bytes.empty() || bytes[0] != 1) return BadBinary(type, bytes.size());
        return std::string(bytes.substr(1));
      }
      return std::string(bytes);
    case TypeKind::kBlob:
      return Blob{std::string(bytes)};
    case TypeKind::kDecimal:
      return NumericFromBinary(type, bytes);
    case TypeKind::kList:
      return ArrayFromBinary(type, bytes);
    default:
      return Fixed(type, bytes);
  }
}

}  // namespace walden::pg
