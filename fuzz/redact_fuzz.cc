// libFuzzer target for the connection-string redactor (common/redact.h): any bytes must
// redact without a crash, and a password placed in any of the connection-string shapes
// walden accepts (or libpq rejects) never survives, whatever separators surround it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/redact.h"

namespace {

constexpr std::string_view kShapes[] = {
    "postgresql://u:{}@db/shop",       "POSTGRES://u:{}@db:5432/shop?sslmode=require",
    "postgresq://u:{}@db/shop",        "postgresql:/u:{}@db/shop",
    "jdbc:postgresql://u:{}@db/x",     "postgresql://db/x?a=1&password={}&b=2",
    "postgresql://db/x?%70assword={}", "host=db{sep}password={}{sep}user=w",
    "host=db{sep}password = {}",       "password={}",
    "dbname=x{sep}sslpassword={}"};
constexpr char kSeparators[] = {' ', '\t', '\n', '\r', '\f', '\v'};

std::string Fill(std::string_view shape, const std::string& secret, char separator) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape.substr(i).starts_with("{sep}")) {
      out += separator;
      i += 4;
    } else if (shape.substr(i).starts_with("{}")) {
      out += secret;
      i += 1;
    } else {
      out += shape[i];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  (void)walden::RedactConninfo(raw);
  (void)walden::ScrubConninfo(std::string(raw), raw);
  if (size < 2) return 0;
  // A secret no shape contains by itself: "ZQ" + letters and digits from the input + "QZ".
  std::string secret = "ZQ";
  for (size_t i = 2; i < size; ++i) secret += "abcdefghijklmnopqrstuvwxyz0123456789"[data[i] % 36];
  secret += "QZ";
  const std::string_view shape = kShapes[data[0] % std::size(kShapes)];
  const std::string conninfo = Fill(shape, secret, kSeparators[data[1] % std::size(kSeparators)]);
  const std::string redacted = walden::RedactConninfo(conninfo);
  const std::string scrubbed =
      walden::ScrubConninfo("error in \"" + conninfo + "\": " + secret, conninfo);
  if (redacted.find(secret) != std::string::npos || scrubbed.find(secret) != std::string::npos) {
    std::abort();
  }
  return 0;
}
