// Parsing of PostgreSQL's text output forms (see types.h for the session settings).
#include <fmt/core.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "pg/types.h"

namespace walden::pg {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

std::unexpected<Error> Bad(const ColumnType& type, std::string_view text) {
  std::string shown(text.substr(0, 60));
  if (text.size() > 60) shown += "...";
  return Fail(ErrorKind::kProtocol,
              fmt::format("cannot read '{}' as {}", shown, type.DuckDbName()));
}

// A small cursor over the text form.
struct Cursor {
  std::string_view s;
  size_t pos = 0;

  bool Done() const { return pos == s.size(); }
  bool Eat(char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view word) {
    if (s.substr(pos).starts_with(word)) {
      pos += word.size();
      return true;
    }
    return false;
  }
  // Exactly `digits` digits when digits > 0, else one or more.
  std::optional<int64_t> Number(int digits = 0) {
    const size_t start = pos;
    int64_t value = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' &&
           (digits == 0 || int(pos - start) < digits)) {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
      value = value * 10 + (s[pos++] - '0');
    }
    if (pos == start || (digits > 0 && int(pos - start) != digits)) return std::nullopt;
    return value;
  }
  // ".123" → 123000 µs; nothing → 0.
  std::optional<int64_t> Fraction() {
    if (!Eat('.')) return 0;
    int64_t micros = 0;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 6; ++i) micros *= 10;
    return micros;
  }
};

// Days since 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> ParseTimeMicros(Cursor& c) {
  const auto h = c.Number(2);
  if (!h || !c.Eat(':')) return std::nullopt;
  const auto m = c.Number(2);
  if (!m || !c.Eat(':')) return std::nullopt;
  const auto s = c.Number(2);
  const auto f = c.Fraction();
  if (!s || !f || *h > 24 || *m > 59 || *s > 60) return std::nullopt;
  return ((*h * 60 + *m) * 60 + *s) * kMicrosPerSecond + *f;
}

// "+HH[:MM[:SS]]" → seconds east of UTC.
std::optional<int32_t> ParseOffset(Cursor& c) {
  const bool negative = c.s.substr(c.pos).starts_with("-");
  if (!c.Eat('+') && !c.Eat('-')) return std::nullopt;
  const auto h = c.Number(2);
  if (!h) return std::nullopt;
  int64_t seconds = *h * 3600;
  if (c.Eat(':')) {
    const auto m = c.Number(2);
    if (!m) return std::nullopt;
    seconds += *m * 60;
    if (c.Eat(':')) {
      const auto s = c.Number(2);
      if (!s) return std::nullopt;
      seconds += *s;
    }
  }
  return static_cast<int32_t>(negative ? -seconds : seconds);
}

// "YYYY-MM-DD", with " BC" at the very end of the text for years before 1 (1 BC is year 0).
std::optional<int64_t> DateWithEra(Cursor& c) {
  const auto year = c.Number();
  if (!year || !c.Eat('-')) return std::nullopt;
  const auto month = c.Number(2);
  if (!month || !c.Eat('-')) return std::nullopt;
  const auto day = c.Number(2);
  // PostgreSQL's date range: 4713 BC to 5874897 AD.
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31 || *year > 5874897) {
    return std::nullopt;
  }
  const int64_t y = c.s.ends_with(" BC") ? 1 - *year : *year;
  return DaysFromCivil(y, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
}

bool AtEndAllowingEra(Cursor& c) { return c.Done() || (c.EatWord(" BC") && c.Done()); }

Result<Datum> ParseTimestamp(const ColumnType& type, std::string_view text) {
  if (text == "infinity") return Timestamp{Timestamp::kInfinity};
  if (text == "-infinity") return Timestamp{-Timestamp::kInfinity};
  Cursor c{text};
  const auto days = DateWithEra(c);
  if (!days || !c.Eat(' ')) return Bad(type, text);
  const auto micros = ParseTimeMicros(c);
  if (!micros) return Bad(type, text);
  int64_t offset = 0;
  if (type.kind == TypeKind::kTimestampTz) {
    const auto parsed = ParseOffset(c);
    if (!parsed) return Bad(type, text);
    offset = *parsed;
  }
  if (!AtEndAllowingEra(c)) return Bad(type, text);
  int64_t result = 0;
  if (__builtin_mul_overflow(*days, kMicrosPerDay, &result) ||
      __builtin_add_overflow(result, *micros - offset * kMicrosPerSecond, &result) ||
      result == Timestamp::kInfinity || result == -Timestamp::kInfinity) {
    return Bad(type, text);
  }
  return Timestamp{result};
}

// ISO 8601 intervals as PostgreSQL writes them: P1Y2M3DT4H5M6.5S, parts may be negative.
Result<Datum> ParseInterval(const ColumnType& type, std::string_view text) {
  Cursor c{text};
  if (!c.Eat('P')) return Bad(type, text);
  Interval out;
  bool time_part = false;
  while (!c.Done()) {
    if (c.Eat('T')) {
      time_part = true;
      continue;
    }
    const bool negative = c.Eat('-');
    const auto whole = c.Number();
    const auto fraction = c.Fraction();
    if (!whole || !fraction || c.Done()) return Bad(type, text);
    const int64_t sign = negative ? -1 : 1;
    const char unit = c.s[c.pos++];
    int64_t months = out.months;
    int64_t days = out.days;
    int64_t micros = 0;
    int64_t part = 0;
    bool overflow = false;
    if (!time_part && (unit == 'Y' || unit == 'M')) {
      overflow = __builtin_mul_overflow(*whole, unit == 'Y' ? 12 : 1, &part);
      months += sign * part;
    } else if (!time_part && unit == 'D') {
      days += sign * *whole;
    } else if (time_part && (unit == 'H' || unit == 'M' || unit == 'S')) {
      const int64_t scale = unit == 'H'   ? 3600 * kMicrosPerSecond
                            : unit == 'M' ? 60 * kMicrosPerSecond
                                          : kMicrosPerSecond;
      overflow = __builtin_mul_overflow(*whole, scale, &part) ||
                 __builtin_add_overflow(part, unit == 'S' ? *fraction : 0, &part) ||
                 __builtin_add_overflow(out.micros, sign * part, &micros);
      out.micros = micros;
    } else {
      return Bad(type, text);
    }
    if (overflow || months > INT32_MAX || months < INT32_MIN || days > INT32_MAX ||
        days < INT32_MIN) {
      return Bad(type, text);
    }
    out.months = static_cast<int32_t>(months);
    out.days = static_cast<int32_t>(days);
  }
  return out;
}

Result<Datum> ParseDecimal(const ColumnType& type, std::string_view text) {
  Cursor c{text};
  const bool negative = c.Eat('-');
  Int128 value = 0;
  int digits = 0;
  int fraction_digits = 0;
  bool in_fraction = false;
  for (; !c.Done(); ++c.pos) {
    const char ch = c.s[c.pos];
    if (ch == '.' && !in_fraction) {
      in_fraction = true;
      continue;
    }
    if (ch < '0' || ch > '9' || digits == 38) break;  // 38 digits fill DECIMAL(38)
    value = value * 10 + (ch - '0');
    ++digits;
    if (in_fraction) ++fraction_digits;
  }
  const int integer_digits = digits - fraction_digits;
  if (!c.Done() || digits == 0 || fraction_digits > type.scale ||
      integer_digits + type.scale > type.precision) {
    if (text == "NaN" || text == "Infinity" || text == "-Infinity") {
      return Fail(ErrorKind::kUnsupported,
                  fmt::format("numeric value {} cannot be stored as {} (DuckDB's DECIMAL has no "
                              "{}); declare the column as plain numeric to keep it as text",
                              text, type.DuckDbName(), text));
    }
    return Bad(type, text);
  }
  for (int i = fraction_digits; i < type.scale; ++i) value *= 10;
  return Decimal{negative ? -value : value, type.scale};
}

Result<Datum> ParseBlob(const ColumnType& type, std::string_view text) {
  if (!text.starts_with("\\x") || text.size() % 2 != 0) return Bad(type, text);
  std::string bytes;
  bytes.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    uint8_t byte = 0;
    const auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, byte, 16);
    if (ec != std::errc() || end != text.data() + i + 2) return Bad(type, text);
    bytes.push_back(static_cast<char>(byte));
  }
  return Blob{std::move(bytes)};
}

Result<Datum> ParseUuid(const ColumnType& type, std::string_view text) {
  UInt128 value = 0;
  int digits = 0;
  for (char ch : text) {
    if (ch == '-') continue;
    int nibble = ch >= '0' && ch <= '9'   ? ch - '0'
                 : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                          : -1;
    if (nibble < 0) return Bad(type, text);
    value = (value << 4) | static_cast<unsigned>(nibble);
    ++digits;
  }
  if (digits != 32) return Bad(type, text);
  return Uuid{value};
}

// One array level "{a,"b c",NULL,{...}}" starting at c.pos; nested levels become lists.
Result<Datum> ParseArrayLevel(const ColumnType& type, Cursor& c, int depth) {
  if (depth > 6 || !c.Eat('{')) return Bad(type, c.s);
  List list;
  if (c.Eat('}')) return list;
  while (true) {
    if (c.pos < c.s.size() && c.s[c.pos] == '{') {
      auto nested = ParseArrayLevel(type, c, depth + 1);
      if (!nested) return nested;
      list.items.push_back(std::move(*nested));
    } else if (c.Eat('"')) {
      std::string element;
      while (!c.Done() && c.s[c.pos] != '"') {
        if (c.s[c.pos] == '\\') ++c.pos;
        if (c.Done()) return Bad(type, c.s);
        element += c.s[c.pos++];
      }
      if (!c.Eat('"')) return Bad(type, c.s);
      auto value = ParseText(*type.element, element);
      if (!value) return value;
      list.items.push_back(std::move(*value));
    } else {
      const size_t start = c.pos;
      while (!c.Done() && c.s[c.pos] != ',' && c.s[c.pos] != '}') ++c.pos;
      const std::string_view element = c.s.substr(start, c.pos - start);
      if (element.empty()) return Bad(type, c.s);
      if (element == "NULL") {
        list.items.push_back(Null{});
      } else {
        auto value = ParseText(*type.element, element);
        if (!value) return value;
        list.items.push_back(std::move(*value));
      }
    }
    if (c.Eat('}')) return list;
    if (!c.Eat(',')) return Bad(type, c.s);
  }
}

Result<Datum> ParseList(const ColumnType& type, std::string_view text) {
  Cursor c{text};
  // Arrays with non-default bounds are prefixed with their dimensions: "[0:1]={1,2}".
  if (c.Eat('[')) {
    const size_t equals = text.find('=');
    if (equals == std::string_view::npos) return Bad(type, text);
    c.pos = equals + 1;
  }
  auto list = ParseArrayLevel(type, c, 0);
  if (list && !c.Done()) return Bad(type, text);
  return list;
}

template <class T>
Result<Datum> ParseInteger(const ColumnType& type, std::string_view text) {
  T value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return Bad(type, text);
  return static_cast<int64_t>(value);
}

Result<Datum> ParseFloat(const ColumnType& type, std::string_view text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return Bad(type, text);
  return value;
}

}  // namespace

Result<Datum> ParseText(const ColumnType& type, std::string_view text) {
  switch (type.kind) {
    case TypeKind::kBool:
      if (text == "t") return true;
      if (text == "f") return false;
      return Bad(type, text);
    case TypeKind::kInt16:
      return ParseInteger<int16_t>(type, text);
    case TypeKind::kInt32:
      return ParseInteger<int32_t>(type, text);
    case TypeKind::kInt64:
      return ParseInteger<int64_t>(type, text);
    case TypeKind::kFloat32:
    case TypeKind::kFloat64:
      return ParseFloat(type, text);
    case TypeKind::kDecimal:
      return ParseDecimal(type, text);
    case TypeKind::kText:
    case TypeKind::kJson:
      return std::string(text);
    case TypeKind::kBlob:
      return ParseBlob(type, text);
    case TypeKind::kDate: {
      if (text == "infinity") return Date{Date::kInfinity};
      if (text == "-infinity") return Date{-Date::kInfinity};
      Cursor c{text};
      const auto days = DateWithEra(c);
      if (!days || !AtEndAllowingEra(c) || *days >= Date::kInfinity || *days <= -Date::kInfinity) {
        return Bad(type, text);
      }
      return Date{static_cast<int32_t>(*days)};
    }
    case TypeKind::kTime: {
      Cursor c{text};
      const auto micros = ParseTimeMicros(c);
      if (!micros || !c.Done()) return Bad(type, text);
      return Time{*micros};
    }
    case TypeKind::kTimeTz: {
      Cursor c{text};
      const auto micros = ParseTimeMicros(c);
      const auto offset = micros ? ParseOffset(c) : std::nullopt;
      if (!offset || !c.Done()) return Bad(type, text);
      return TimeTz{*micros, *offset};
    }
    case TypeKind::kTimestamp:
    case TypeKind::kTimestampTz:
      return ParseTimestamp(type, text);
    case TypeKind::kInterval:
      return ParseInterval(type, text);
    case TypeKind::kUuid:
      return ParseUuid(type, text);
    case TypeKind::kList:
      return ParseList(type, text);
  }
  return Bad(type, text);
}

}  // namespace walden::pg
