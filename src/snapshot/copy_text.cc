#include "snapshot/copy_text.h"

#include <fmt/core.h>

namespace walden::snapshot {
namespace {

using pg::pgoutput::Value;
using pg::pgoutput::ValueKind;

int Digit(char c, int base) {
  const int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : 99;
  return d < base ? d : -1;
}

// Appends the unescaped field to `bytes`; `i` moves past it (to the tab or the end).
Status Unescape(std::string_view line, size_t& i, std::string& bytes) {
  while (i < line.size() && line[i] != '\t') {
    const char c = line[i++];
    if (c != '\\') {
      bytes.push_back(c);
      continue;
    }
    if (i >= line.size()) return Fail(ErrorKind::kProtocol, "COPY row ends in a backslash");
    const char e = line[i++];
    switch (e) {
      case 'b':
        bytes.push_back('\b');
        break;
      case 'f':
        bytes.push_back('\f');
        break;
      case 'n':
        bytes.push_back('\n');
        break;
      case 'r':
        bytes.push_back('\r');
        break;
      case 't':
        bytes.push_back('\t');
        break;
      case 'v':
        bytes.push_back('\v');
        break;
      case 'x': {
        int value = 0, digits = 0;
        for (int d; digits < 2 && i < line.size() && (d = Digit(line[i], 16)) >= 0; ++digits, ++i) {
          value = value * 16 + d;
        }
        if (digits == 0) {
          bytes.push_back('x');
        } else {
          bytes.push_back(static_cast<char>(value));
        }
        break;
      }
      default:
        if (Digit(e, 8) >= 0) {
          int value = Digit(e, 8);
          for (int n = 1, d; n < 3 && i < line.size() && (d = Digit(line[i], 8)) >= 0; ++n, ++i) {
            value = value * 8 + d;
          }
          bytes.push_back(static_cast<char>(value & 0xff));
        } else {
          bytes.push_back(e);
        }
    }
  }
  return {};
}

}  // namespace

Status ParseCopyTextLine(std::string_view line, size_t columns, pg::pgoutput::Tuple& out) {
  out.values.clear();
  out.bytes.clear();
  size_t i = 0;
  for (size_t column = 0; column < columns; ++column) {
    if (column > 0) {
      if (i >= line.size() || line[i] != '\t') {
        return Fail(ErrorKind::kProtocol,
                    fmt::format("COPY row has {} fields, expected {}", column, columns));
      }
      ++i;
    }
    if (line.substr(i, 2) == "\\N" && (i + 2 == line.size() || line[i + 2] == '\t')) {
      out.values.push_back(Value{.kind = ValueKind::kNull});
      i += 2;
      continue;
    }
    const size_t offset = out.bytes.size();
    if (auto ok = Unescape(line, i, out.bytes); !ok) return ok;
    out.values.push_back(Value{.kind = ValueKind::kText,
                               .offset = static_cast<uint32_t>(offset),
                               .length = static_cast<uint32_t>(out.bytes.size() - offset)});
  }
  if (i != line.size()) {
    return Fail(ErrorKind::kProtocol, fmt::format("COPY row has more than {} fields", columns));
  }
  return {};
}

}  // namespace walden::snapshot
