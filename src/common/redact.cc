#include "common/redact.h"

#include <algorithm>
#include <vector>

#include "common/strings.h"

namespace walden {
namespace {

constexpr std::string_view kMask = "***";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// Where one key=value pair may end and the next begin, in keyword strings and URL queries.
bool IsSeparator(char c) { return IsSpace(c) || c == '&' || c == '?' || c == ';'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Collects what to hide and builds the masked text. Anything that could be a connection
// string is treated as one, whatever libpq would make of it: every "scheme:/..." authority
// with user:password@, and every key=value pair whose key (any case, percent-decoded) ends
// in "password", separated by white space of any kind, '&', '?' or ';'.
class Redactor {
 public:
  explicit Redactor(std::string_view text) : text_(text) {}

  std::string Run() {
    MaskAuthorities();
    MaskParams();
    std::ranges::sort(spans_);
    std::string out;
    size_t pos = 0;
    for (const auto& [begin, end] : spans_) {
      if (begin < pos) continue;  // overlapping: already masked
      out.append(text_.substr(pos, begin - pos)).append(kMask);
      pos = end;
    }
    return out.append(text_.substr(std::min(pos, text_.size())));
  }
  std::vector<std::string> Secrets() const {
    std::vector<std::string> secrets;
    for (const auto& [begin, end] : spans_) {
      std::string_view value = text_.substr(begin, end - begin);
      if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
        value = value.substr(1, value.size() - 2);
      }
      if (!value.empty()) {
        secrets.emplace_back(value);
        secrets.push_back(PercentDecode(value));
      }
    }
    return secrets;
  }

 private:
  void MaskAuthorities() {
    for (size_t colon = text_.find(":/"); colon != std::string_view::npos;
         colon = text_.find(":/", colon + 2)) {
      size_t start = colon + 1;
      while (start < text_.size() && text_[start] == '/') ++start;
      size_t end = start;
      while (end < text_.size() && !IsSpace(text_[end]) && text_[end] != '/' && text_[end] != '?' &&
             text_[end] != '#' && text_[end] != '"' && text_[end] != '\'') {
        ++end;
      }
      const std::string_view authority = text_.substr(start, end - start);
      const size_t at = authority.rfind('@');
      if (at == std::string_view::npos) continue;
      const size_t user_colon = authority.substr(0, at).find(':');
      if (user_colon == std::string_view::npos) continue;
      spans_.emplace_back(start + user_colon + 1, start + at);
    }
  }

  void MaskParams() {
    for (size_t key = 0; key < text_.size(); ++key) {
      if (key > 0 && !IsSeparator(text_[key - 1])) continue;
      size_t eq = key;
      while (eq < text_.size() && text_[eq] != '=' && !IsSeparator(text_[eq])) ++eq;
      // No key starts at a separator: each run of white space is then skipped once, by the
      // key before it (linear time; the fuzzer found the quadratic version).
      if (eq == key) continue;
      size_t name_end = eq;
      while (eq < text_.size() && IsSpace(text_[eq])) ++eq;  // "password = x"
      if (eq >= text_.size() || text_[eq] != '=') continue;
      const std::string name = AsciiLower(PercentDecode(text_.substr(key, name_end - key)));
      if (!name.ends_with("password")) continue;
      size_t value = eq + 1;
      while (value < text_.size() && IsSpace(text_[value])) ++value;
      size_t end = value;
      if (end < text_.size() && text_[end] == '\'') {
        ++end;
        while (end < text_.size() && text_[end] != '\'') end += text_[end] == '\\' ? 2 : 1;
        end = std::min(end + 1, text_.size());
      } else {
        while (end < text_.size() && !IsSpace(text_[end]) && text_[end] != '&' &&
               text_[end] != '#') {
          ++end;
        }
      }
      if (end > value) spans_.emplace_back(value, end);
    }
  }

  std::string_view text_;
  std::vector<std::pair<size_t, size_t>> spans_;
};

}  // namespace

std::string RedactConninfo(std::string_view conninfo) { return Redactor(conninfo).Run(); }

std::string ScrubConninfo(std::string message, std::string_view conninfo) {
  if (conninfo.empty()) return message;
  Redactor redactor(conninfo);
  const std::string redacted = redactor.Run();
  for (size_t at = message.find(conninfo); at != std::string::npos;
       at = message.find(conninfo, at + redacted.size())) {
    message.replace(at, conninfo.size(), redacted);
  }
  // libpq may quote a piece of the string, or decode it: its secrets go wherever they are.
  // One pass over the message, longest secret first, so a mask never feeds the next search
  // (a secret of '*'s grew the message without bound; found by the fuzzer).
  std::vector<std::string> secrets = redactor.Secrets();
  std::ranges::sort(secrets,
                    [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  std::string out;
  for (size_t at = 0; at < message.size();) {
    auto hit = std::ranges::find_if(secrets, [&](const std::string& secret) {
      return std::string_view(message).substr(at).starts_with(secret);
    });
    if (hit == secrets.end()) {
      out += message[at++];
    } else {
      out += kMask;
      at += hit->size();
    }
  }
  return out;
}

bool ConninfoHasPassword(std::string_view conninfo) { return RedactConninfo(conninfo) != conninfo; }

}  // namespace walden
