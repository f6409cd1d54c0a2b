#include "feed/event.h"

#include <fmt/core.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/units.h"

namespace walden::feed {
namespace {

using Json = nlohmann::json;

std::string Quote(const std::string& text) { return Json(text).dump(); }

// DuckDB prints fractions of a second without trailing zeros.
std::string Fraction(int64_t micros) {
  if (micros == 0) return "";
  std::string digits = fmt::format(".{:06d}", micros);
  while (digits.back() == '0') digits.pop_back();
  return digits;
}

std::string ClockText(int64_t micros) {
  const int64_t seconds = micros / 1000000;
  return fmt::format("{:02d}:{:02d}:{:02d}{}", seconds / 3600, seconds / 60 % 60, seconds % 60,
                     Fraction(micros % 1000000));
}

std::string DateText(int32_t days) {
  if (days == Date::kInfinity) return "infinity";
  if (days == -Date::kInfinity) return "-infinity";
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  const int year = static_cast<int>(ymd.year());
  return fmt::format("{:04d}-{:02d}-{:02d}{}", year > 0 ? year : 1 - year,
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     year > 0 ? "" : " (BC)");
}

std::string TimestampText(int64_t micros, bool utc) {
  if (micros == Timestamp::kInfinity) return "infinity";
  if (micros == -Timestamp::kInfinity) return "-infinity";
  int64_t day = micros / 86400000000;
  int64_t rest = micros % 86400000000;
  if (rest < 0) {
    rest += 86400000000;
    --day;
  }
  std::string text = DateText(static_cast<int32_t>(day));
  const std::string bc = text.ends_with(" (BC)") ? " (BC)" : "";
  if (!bc.empty()) text.resize(text.size() - bc.size());
  return text + " " + ClockText(rest) + (utc ? "+00" : "") + bc;
}

std::string OffsetText(int32_t seconds) {
  const char sign = seconds < 0 ? '-' : '+';
  const int32_t magnitude = std::abs(seconds);
  std::string text = fmt::format("{}{:02d}", sign, magnitude / 3600);
  if (magnitude % 3600 != 0) text += fmt::format(":{:02d}", magnitude / 60 % 60);
  if (magnitude % 60 != 0) text += fmt::format(":{:02d}", magnitude % 60);
  return text;
}

std::string IntervalText(const Interval& value) {
  std::string text;
  auto part = [&](int64_t count, std::string_view unit) {
    if (count == 0) return;
    if (!text.empty()) text += ' ';
    text += fmt::format("{} {}{}", count, unit, count == 1 || count == -1 ? "" : "s");
  };
  part(value.months / 12, "year");
  part(value.months % 12, "month");
  part(value.days, "day");
  if (value.micros != 0 || text.empty()) {
    if (!text.empty()) text += ' ';
    if (value.micros < 0) text += '-';
    text += ClockText(value.micros < 0 ? -value.micros : value.micros);
  }
  return text;
}

std::string DecimalText(const Decimal& value) {
  const bool negative = value.unscaled < 0;
  UInt128 magnitude = negative ? -static_cast<UInt128>(value.unscaled) : value.unscaled;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  if (value.scale > 0) {
    if (digits.size() <= static_cast<size_t>(value.scale)) {
      digits.insert(0, static_cast<size_t>(value.scale) + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - static_cast<size_t>(value.scale), ".");
  }
  return (negative ? "-" : "") + digits;
}

std::string UuidText(UInt128 value) {
  std::string hex(32, '0');
  for (int i = 31; i >= 0; --i) {
    hex[static_cast<size_t>(i)] = "0123456789abcdef"[static_cast<int>(value & 0xf)];
    value >>= 4;
  }
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string BlobText(const std::string& bytes) {
  std::string text;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 32 && byte < 127 && c != '\\' && c != '\'' && c != '"') {
      text += c;
    } else {
      text += fmt::format("\\x{:02X}", byte);
    }
  }
  return text;
}

std::string DoubleJson(double value) {
  if (std::isnan(value)) return "\"nan\"";
  if (std::isinf(value)) return value > 0 ? "\"inf\"" : "\"-inf\"";
  return Json(value).dump();
}

}  // namespace

std::string EventId::ToString() const { return fmt::format("{:016X}-{}", lsn, seq); }

std::optional<EventId> EventId::Parse(std::string_view text) {
  const size_t dash = text.find('-');
  if (dash != 16) return std::nullopt;
  EventId id;
  const char* end = text.data() + text.size();
  auto lsn = std::from_chars(text.data(), text.data() + dash, id.lsn, 16);
  auto seq = std::from_chars(text.data() + dash + 1, end, id.seq);
  if (lsn.ec != std::errc{} || lsn.ptr != text.data() + dash || seq.ec != std::errc{} ||
      seq.ptr != end || id.seq < 0) {
    return std::nullopt;
  }
  return id;
}

std::string ValueJson(const ColumnType& type, const Datum& value) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Null>) {
          return "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          return DoubleJson(v);
        } else if constexpr (std::is_same_v<T, Decimal>) {
          return Quote(DecimalText(v));
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (type.kind == TypeKind::kJson) {
            const Json parsed = Json::parse(v, nullptr, /*allow_exceptions=*/false);
            if (!parsed.is_discarded()) return parsed.dump();
          }
          return Quote(v);
        } else if constexpr (std::is_same_v<T, Blob>) {
          return Quote(BlobText(v.bytes));
        } else if constexpr (std::is_same_v<T, Date>) {
          return Quote(DateText(v.days));
        } else if constexpr (std::is_same_v<T, Time>) {
          return Quote(ClockText(v.micros));
        } else if constexpr (std::is_same_v<T, TimeTz>) {
          return Quote(ClockText(v.micros) + OffsetText(v.offset_seconds));
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          return Quote(TimestampText(v.micros, type.kind == TypeKind::kTimestampTz));
        } else if constexpr (std::is_same_v<T, Interval>) {
          return Quote(IntervalText(v));
        } else if constexpr (std::is_same_v<T, Uuid>) {
          return Quote(UuidText(v.value));
        } else {
          static_assert(std::is_same_v<T, List>);
          const ColumnType element = type.element ? *type.element : ColumnType{};
          std::string out = "[";
          for (size_t i = 0; i < v.items.size(); ++i) {
            if (i > 0) out += ',';
            out += ValueJson(element, v.items[i]);
          }
          return out + "]";
        }
      },
      static_cast<const Datum::variant&>(value));
}

namespace {

std::string_view OpName(change::Op op) {
  switch (op) {
    case change::Op::kInsert:
      return "insert";
    case change::Op::kUpdate:
      return "update";
    case change::Op::kDelete:
      return "delete";
    case change::Op::kTruncate:
      return "truncate";
    default:
      return "";
  }
}

// {"col": value, ...}; columns whose value was not sent are left out and named in `unchanged`.
std::string RowJson(const change::TableDef& table, const change::Row& row,
                    std::vector<std::string>* unchanged) {
  std::string out = "{";
  for (size_t i = 0; i < table.columns.size() && i < row.size(); ++i) {
    if (!row[i]) {
      if (unchanged) unchanged->push_back(table.columns[i].name);
      continue;
    }
    if (out.size() > 1) out += ',';
    out += Quote(table.columns[i].name) + ":" + ValueJson(table.columns[i].type, *row[i]);
  }
  return out + "}";
}

std::string Head(const change::TransactionInfo& txn, change::Op op, const QualifiedName& table) {
  return fmt::format(R"({{"op":"{}","table":{},"lsn":"{}","commit_time":"{}")", OpName(op),
                     Quote(table.Display()), txn.commit_lsn.ToString(),
                     FormatUtcTime(txn.commit_time));
}

}  // namespace

std::optional<Event> RowEvent(const change::TransactionInfo& txn, const change::Change& change) {
  const bool row_change = change.op == change::Op::kInsert || change.op == change::Op::kUpdate ||
                          change.op == change::Op::kDelete;
  if (!row_change || !change.table) return std::nullopt;
  const change::TableDef& table = *change.table;
  std::vector<std::string> unchanged;
  std::string data = Head(txn, change.op, table.name);
  data += change.op == change::Op::kDelete ? R"(,"before":)" : R"(,"row":)";
  data += RowJson(table, change.row, change.op == change::Op::kDelete ? nullptr : &unchanged);
  if (change.op == change::Op::kUpdate && change.old_image != change::OldImage::kNone) {
    data += R"(,"before":)" + RowJson(table, change.before, nullptr);
  }
  if (!unchanged.empty()) data += R"(,"unchanged":)" + Json(unchanged).dump();
  return Event{.id = {txn.commit_lsn.value, change.seq}, .data = data + "}"};
}

std::vector<std::pair<QualifiedName, Event>> TruncateEvents(const change::TransactionInfo& txn,
                                                            const change::Change& change) {
  std::vector<std::pair<QualifiedName, Event>> events;
  if (change.op != change::Op::kTruncate) return events;
  for (const auto& table : change.truncated) {
    events.emplace_back(table->name, Event{.id = {txn.commit_lsn.value, change.seq},
                                           .data = Head(txn, change.op, table->name) + "}"});
  }
  return events;
}

}  // namespace walden::feed
