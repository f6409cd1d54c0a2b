#include "common/identifiers.h"

#include <vector>

#include "common/strings.h"

namespace walden {
namespace {

bool IsIdentStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

bool IsIdentChar(unsigned char c) { return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '$'; }

std::unexpected<Error> SelectorError(std::string_view text, std::string_view problem) {
  return Fail(ErrorKind::kConfig, "table selector '" + std::string(text) +
                                      "': " + std::string(problem) +
                                      "; expected schema.table, schema.* or a quoted name such as "
                                      "\"My Schema\".\"My Table\"");
}

// Reads one identifier or `*` starting at `pos`; advances `pos` past it.
Result<std::string> ReadPart(std::string_view text, size_t& pos, bool& is_star) {
  is_star = false;
  if (pos >= text.size()) return SelectorError(text, "a name is missing");
  if (text[pos] == '*') {
    is_star = true;
    ++pos;
    return "*";
  }
  std::string name;
  if (text[pos] == '"') {
    ++pos;
    while (true) {
      if (pos >= text.size()) {
        return SelectorError(text, "a double quote is not closed");
      }
      if (text[pos] == '"') {
        if (pos + 1 < text.size() && text[pos + 1] == '"') {
          name += '"';
          pos += 2;
          continue;
        }
        ++pos;
        break;
      }
      name += text[pos++];
    }
    if (name.empty()) return SelectorError(text, "a quoted name is empty");
    return name;
  }
  if (!IsIdentStart(static_cast<unsigned char>(text[pos]))) {
    return SelectorError(text, "unexpected character '" + std::string(1, text[pos]) + "'");
  }
  while (pos < text.size() && IsIdentChar(static_cast<unsigned char>(text[pos]))) {
    name += text[pos++];
  }
  return AsciiLower(name);
}

}  // namespace

std::string QualifiedName::ToSql() const { return QuoteIdent(schema) + "." + QuoteIdent(name); }

std::string QualifiedName::Display() const {
  return DisplayIdent(schema) + "." + DisplayIdent(name);
}

bool TableSelector::Matches(const QualifiedName& name) const {
  return name.schema == schema && (!table || *table == name.name);
}

std::string TableSelector::Display() const {
  return DisplayIdent(schema) + "." + (table ? DisplayIdent(*table) : std::string("*"));
}

Result<TableSelector> ParseTableSelector(std::string_view raw) {
  const std::string_view text = Trim(raw);
  if (text.empty()) return SelectorError(raw, "it is empty");
  std::vector<std::string> parts;
  bool last_star = false;
  size_t pos = 0;
  while (true) {
    bool is_star = false;
    auto part = ReadPart(text, pos, is_star);
    if (!part) return std::unexpected(part.error());
    if (last_star && parts.size() == 1) {
      return SelectorError(text,
                           "the schema cannot be '*' (leave tables empty to capture every "
                           "table)");
    }
    if (last_star) return SelectorError(text, "'*' must be last");
    parts.push_back(*part);
    last_star = is_star;
    if (pos == text.size()) break;
    if (text[pos] != '.') {
      return SelectorError(text, "unexpected character '" + std::string(1, text[pos]) + "'");
    }
    ++pos;
  }
  if (parts.size() > 2) {
    return SelectorError(text, "too many dots (quote names that contain dots)");
  }
  if (parts.size() == 1) {
    if (last_star) return SelectorError(text, "'*' needs a schema");
    return TableSelector{"public", parts[0]};
  }
  if (last_star) return TableSelector{parts[0], std::nullopt};
  return TableSelector{parts[0], parts[1]};
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string DisplayIdent(std::string_view name) {
  bool plain = !name.empty() && IsIdentStart(static_cast<unsigned char>(name[0]));
  for (unsigned char c : name) {
    if (!IsIdentChar(c) || (c >= 'A' && c <= 'Z')) plain = false;
  }
  return plain ? std::string(name) : QuoteIdent(name);
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace walden
