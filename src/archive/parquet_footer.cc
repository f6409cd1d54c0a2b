#include "archive/parquet_footer.h"

#include <fmt/core.h>

#include <algorithm>
#include <optional>

namespace walden::archive {
namespace {

// Thrift compact protocol type codes (https://github.com/apache/thrift, compact protocol spec).
enum class Type : uint8_t {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};
constexpr int kMaxDepth = 32;  // FileMetaData nests ~6 deep; hostile bytes may claim more

Error Malformed(std::string_view what) {
  return Error{ErrorKind::kProtocol, fmt::format("malformed Parquet footer: {}", what)};
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  size_t pos() const { return pos_; }

  Result<uint8_t> Byte() {
    if (pos_ >= data_.size()) return std::unexpected(Malformed("it ends inside a value"));
    return static_cast<uint8_t>(data_[pos_++]);
  }
  Result<uint64_t> Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      auto byte = Byte();
      if (!byte) return byte;
      value |= static_cast<uint64_t>(*byte & 0x7f) << shift;
      if ((*byte & 0x80) == 0) return value;
    }
    return std::unexpected(Malformed("a varint longer than 10 bytes"));
  }
  Status Advance(uint64_t n) {
    if (n > data_.size() - pos_) return std::unexpected(Malformed("a value runs past its end"));
    pos_ += n;
    return {};
  }

  struct Field {
    Type type = Type::kStop;
    int16_t id = 0;
  };
  // The next field header of a struct whose previous field id was `last`.
  Result<Field> NextField(int16_t last) {
    auto byte = Byte();
    if (!byte) return std::unexpected(byte.error());
    const auto type = static_cast<Type>(*byte & 0x0f);
    if (type == Type::kStop) return Field{};
    if (type > Type::kStruct) return std::unexpected(Malformed("an unknown field type"));
    const int delta = *byte >> 4;
    if (delta != 0) return Field{type, static_cast<int16_t>(last + delta)};
    auto id = Varint();
    if (!id) return std::unexpected(id.error());
    return Field{type, static_cast<int16_t>((*id >> 1) ^ -(*id & 1))};
  }
  struct List {
    Type element = Type::kStop;
    uint64_t size = 0;
  };
  Result<List> ListHeader() {
    auto byte = Byte();
    if (!byte) return std::unexpected(byte.error());
    List list{static_cast<Type>(*byte & 0x0f), static_cast<uint64_t>(*byte >> 4)};
    if (list.size == 15) {
      auto size = Varint();
      if (!size) return std::unexpected(size.error());
      list.size = *size;
    }
    // Every element takes at least one byte: a larger count is a lie that would spin.
    if (list.size > data_.size() - pos_) return std::unexpected(Malformed("a list too long"));
    return list;
  }

  // Skips one value of `type`; `in_container`: booleans take a byte there.
  Status Skip(Type type, int depth, bool in_container = false) {
    if (depth > kMaxDepth) return std::unexpected(Malformed("nested too deeply"));
    switch (type) {
      case Type::kTrue:
      case Type::kFalse:
        return in_container ? Advance(1) : Status{};
      case Type::kByte:
        return Advance(1);
      case Type::kI16:
      case Type::kI32:
      case Type::kI64: {
        auto value = Varint();
        if (!value) return std::unexpected(value.error());
        return {};
      }
      case Type::kDouble:
        return Advance(8);
      case Type::kBinary: {
        auto size = Varint();
        if (!size) return std::unexpected(size.error());
        return Advance(*size);
      }
      case Type::kList:
      case Type::kSet: {
        auto list = ListHeader();
        if (!list) return std::unexpected(list.error());
        for (uint64_t i = 0; i < list->size; ++i) {
          if (auto ok = Skip(list->element, depth + 1, true); !ok) return ok;
        }
        return {};
      }
      case Type::kMap:
        return SkipMap(depth);
      case Type::kStruct:
        return SkipStruct(depth);
      case Type::kStop:
        break;
    }
    return std::unexpected(Malformed("an unknown value type"));
  }

  // Skips a struct's fields; `i64_field`, when given, receives that i64 field's value.
  Status SkipStruct(int depth, int16_t i64_field = 0, std::optional<int64_t>* value = nullptr) {
    int16_t last = 0;
    while (true) {
      auto field = NextField(last);
      if (!field) return std::unexpected(field.error());
      if (field->type == Type::kStop) return {};
      last = field->id;
      if (value && field->id == i64_field && field->type == Type::kI64) {
        auto raw = Varint();
        if (!raw) return std::unexpected(raw.error());
        *value = static_cast<int64_t>((*raw >> 1) ^ (~(*raw & 1) + 1));
        continue;
      }
      if (auto ok = Skip(field->type, depth + 1); !ok) return ok;
    }
  }

 private:
  Status SkipMap(int depth) {
    auto size = Varint();
    if (!size) return std::unexpected(size.error());
    if (*size == 0) return {};
    if (*size > data_.size() - pos_) return std::unexpected(Malformed("a map too long"));
    auto types = Byte();
    if (!types) return std::unexpected(types.error());
    for (uint64_t i = 0; i < *size; ++i) {
      if (auto ok = Skip(static_cast<Type>(*types >> 4), depth + 1, true); !ok) return ok;
      if (auto ok = Skip(static_cast<Type>(*types & 0x0f), depth + 1, true); !ok) return ok;
    }
    return {};
  }

  std::string_view data_;
  size_t pos_ = 0;
};

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

// FileMetaData's pieces: each top-level field's bytes, and the row groups' spans.
struct Parsed {
  struct Piece {
    int16_t id = 0;
    size_t begin = 0, value = 0, end = 0;  // header at begin, value from `value` to end
  };
  std::vector<Piece> fields;
  size_t stop = 0;  // the STOP byte
  struct Group {
    size_t begin = 0, end = 0;
    int64_t rows = 0;
  };
  std::vector<Group> groups;
};
constexpr int16_t kNumRows = 3, kRowGroups = 4, kRowGroupRows = 3;

Result<Parsed> Parse(std::string_view data) {
  Reader reader(data);
  Parsed parsed;
  int16_t last = 0;
  while (true) {
    const size_t begin = reader.pos();
    auto field = reader.NextField(last);
    if (!field) return std::unexpected(field.error());
    if (field->type == Type::kStop) {
      parsed.stop = begin;
      break;
    }
    last = field->id;
    Parsed::Piece piece{field->id, begin, reader.pos(), 0};
    if (std::ranges::any_of(parsed.fields,
                            [&](const Parsed::Piece& p) { return p.id == field->id; })) {
      return std::unexpected(Malformed(fmt::format("field {} appears twice", field->id)));
    }
    if (field->id == kNumRows && field->type != Type::kI64) {
      return std::unexpected(Malformed("num_rows is no i64"));
    }
    if (field->id == kRowGroups) {
      if (field->type != Type::kList) return std::unexpected(Malformed("row_groups is no list"));
      auto list = reader.ListHeader();
      if (!list) return std::unexpected(list.error());
      if (list->size > 0 && list->element != Type::kStruct) {
        return std::unexpected(Malformed("a row group is no struct"));
      }
      for (uint64_t i = 0; i < list->size; ++i) {
        Parsed::Group group{.begin = reader.pos()};
        std::optional<int64_t> rows;
        if (auto ok = reader.SkipStruct(1, kRowGroupRows, &rows); !ok) {
          return std::unexpected(ok.error());
        }
        if (!rows || *rows < 0) {
          return std::unexpected(Malformed("a row group without a valid num_rows"));
        }
        group.end = reader.pos();
        group.rows = *rows;
        parsed.groups.push_back(group);
      }
    } else if (auto ok = reader.Skip(field->type, 1); !ok) {
      return std::unexpected(ok.error());
    }
    piece.end = reader.pos();
    parsed.fields.push_back(piece);
  }
  if (reader.pos() != data.size()) return std::unexpected(Malformed("bytes after its end"));
  const auto has = [&](int16_t id) {
    return std::ranges::any_of(parsed.fields, [id](const Parsed::Piece& p) { return p.id == id; });
  };
  if (!has(kNumRows) || !has(kRowGroups)) {
    return std::unexpected(Malformed("num_rows or row_groups is missing"));
  }
  return parsed;
}

}  // namespace

Result<size_t> CountRowGroups(std::string_view file_metadata) {
  auto parsed = Parse(file_metadata);
  if (!parsed) return std::unexpected(parsed.error());
  return parsed->groups.size();
}

Result<std::string> KeepRowGroups(std::string_view data, const std::vector<size_t>& keep) {
  auto parsed = Parse(data);
  if (!parsed) return std::unexpected(parsed.error());
  int64_t rows = 0;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i] >= parsed->groups.size() || (i > 0 && keep[i] <= keep[i - 1])) {
      return Fail(ErrorKind::kInternal, fmt::format("row group {} asked of a footer with {}",
                                                    keep[i], parsed->groups.size()));
    }
    if (__builtin_add_overflow(rows, parsed->groups[keep[i]].rows, &rows)) {
      return std::unexpected(Malformed("num_rows past 2^63"));
    }
  }
  std::string out;
  out.reserve(data.size());
  for (const Parsed::Piece& piece : parsed->fields) {
    // The header keeps its delta encoding: the same fields stay in the same order.
    out.append(data.substr(piece.begin, piece.value - piece.begin));
    if (piece.id == kNumRows) {
      PutVarint(out, (static_cast<uint64_t>(rows) << 1) ^ static_cast<uint64_t>(rows >> 63));
    } else if (piece.id == kRowGroups) {
      if (keep.size() < 15) {
        out += static_cast<char>((keep.size() << 4) | static_cast<size_t>(Type::kStruct));
      } else {
        out += static_cast<char>(0xf0 | static_cast<int>(Type::kStruct));
        PutVarint(out, keep.size());
      }
      for (size_t i : keep) {
        const Parsed::Group& group = parsed->groups[i];
        out.append(data.substr(group.begin, group.end - group.begin));
      }
    } else {
      out.append(data.substr(piece.value, piece.end - piece.value));
    }
  }
  out += '\0';  // STOP
  return out;
}

}  // namespace walden::archive
