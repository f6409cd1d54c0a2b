#include "common/redact.h"

#include "common/strings.h"

namespace walden {
namespace {

constexpr std::string_view kMask = "***";

bool IsUrl(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

// Masks `password=value` occurrences; in a URL query the value ends at '&', in a keyword
// string at unquoted white space (a quoted value may contain spaces and \' escapes).
std::string MaskPasswordParams(std::string_view s, bool url_query) {
  std::string out;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t hit = s.find("password", pos);
    if (hit == std::string_view::npos) break;
    size_t eq = hit + 8;
    while (!url_query && eq < s.size() && s[eq] == ' ') ++eq;
    const bool at_key_start = hit == 0 || s[hit - 1] == ' ' || s[hit - 1] == '?' ||
                              s[hit - 1] == '&' || s[hit - 1] == '\t';
    if (eq >= s.size() || s[eq] != '=' || !at_key_start) {
      out.append(s.substr(pos, hit + 8 - pos));
      pos = hit + 8;
      continue;
    }
    size_t value = eq + 1;
    while (!url_query && value < s.size() && s[value] == ' ') ++value;
    size_t end = value;
    if (url_query) {
      while (end < s.size() && s[end] != '&') ++end;
    } else if (end < s.size() && s[end] == '\'') {
      ++end;
      while (end < s.size() && s[end] != '\'') end += s[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, s.size());
    } else {
      while (end < s.size() && s[end] != ' ' && s[end] != '\t') ++end;
    }
    out.append(s.substr(pos, value - pos));
    out.append(kMask);
    pos = end;
  }
  out.append(s.substr(std::min(pos, s.size())));
  return out;
}

}  // namespace

std::string RedactConninfo(std::string_view conninfo) {
  if (!IsUrl(conninfo)) return MaskPasswordParams(conninfo, false);
  const size_t scheme_end = conninfo.find("://") + 3;
  const size_t authority_end = conninfo.find_first_of("/?", scheme_end);
  const std::string_view authority = conninfo.substr(scheme_end, authority_end - scheme_end);
  std::string out(conninfo.substr(0, scheme_end));
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    out.append(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) out.append(":").append(kMask);
    out.append(authority.substr(at));
  } else {
    out.append(authority);
  }
  if (authority_end != std::string_view::npos) {
    out.append(MaskPasswordParams(conninfo.substr(authority_end), true));
  }
  return out;
}

std::string ScrubConninfo(std::string message, std::string_view conninfo) {
  if (conninfo.empty()) return message;
  const std::string redacted = RedactConninfo(conninfo);
  for (size_t at = message.find(conninfo); at != std::string::npos;
       at = message.find(conninfo, at + redacted.size())) {
    message.replace(at, conninfo.size(), redacted);
  }
  return message;
}

bool ConninfoHasPassword(std::string_view conninfo) { return RedactConninfo(conninfo) != conninfo; }

}  // namespace walden
