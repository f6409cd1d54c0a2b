#include "change/change.h"

#include <cstring>
#include <type_traits>
#include <variant>

namespace walden::change {
namespace {

template <typename T>
void AppendRaw(std::string& out, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void AppendSized(std::string& out, std::string_view bytes) {
  AppendRaw(out, static_cast<uint64_t>(bytes.size()));
  out.append(bytes);
}

// Each value starts with its variant index, variable-length ones carry their length: two
// keys encode alike only when their values are equal.
void AppendKey(std::string& out, const Datum& value) {
  out += static_cast<char>(value.index());
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Null>) {
        } else if constexpr (std::is_same_v<T, std::string>) {
          AppendSized(out, v);
        } else if constexpr (std::is_same_v<T, Blob>) {
          AppendSized(out, v.bytes);
        } else if constexpr (std::is_same_v<T, Decimal>) {
          AppendRaw(out, v.unscaled);
          AppendRaw(out, v.scale);
        } else if constexpr (std::is_same_v<T, TimeTz>) {
          AppendRaw(out, v.micros);
          AppendRaw(out, v.offset_seconds);
        } else if constexpr (std::is_same_v<T, Interval>) {
          AppendRaw(out, v.months);
          AppendRaw(out, v.days);
          AppendRaw(out, v.micros);
        } else if constexpr (std::is_same_v<T, List>) {
          AppendRaw(out, static_cast<uint64_t>(v.items.size()));
          for (const Datum& item : v.items) AppendKey(out, item);
        } else if constexpr (std::is_same_v<T, Date>) {
          AppendRaw(out, v.days);
        } else if constexpr (std::is_same_v<T, Time> || std::is_same_v<T, Timestamp>) {
          AppendRaw(out, v.micros);
        } else if constexpr (std::is_same_v<T, Uuid>) {
          AppendRaw(out, v.value);
        } else {
          AppendRaw(out, v);  // bool, int64_t, double
        }
      },
      static_cast<const Datum::variant&>(value));
}

}  // namespace

char OpCode(Op op) {
  switch (op) {
    case Op::kInsert:
      return 'c';
    case Op::kUpdate:
      return 'u';
    case Op::kDelete:
      return 'd';
    case Op::kRead:
      return 'r';
    case Op::kTruncate:
      return 't';
    case Op::kReset:
    case Op::kRefillStart:
      return 's';
    case Op::kSchemaChange:
    case Op::kMessage:
    case Op::kRefillDone:
      break;
  }
  return '?';
}

std::string KeyOf(const TableDef& table, const Row& row) {
  std::string key;
  bool any = false;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (!table.columns[i].key) continue;
    if (i >= row.size() || !row[i] || row[i]->is_null()) return "";
    AppendKey(key, *row[i]);
    any = true;
  }
  return any ? key : "";
}

}  // namespace walden::change
