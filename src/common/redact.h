// Removes secrets from connection strings before they are printed, logged or exported.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace walden {

// Replaces the password of a libpq URL (`postgresql://u:secret@h/db`, `?password=`) or
// keyword string (`password=secret`, `password='se cret'`) with "***". Other text is kept.
std::string RedactConninfo(std::string_view conninfo);

// Replaces every copy of `conninfo` inside `message` (libpq quotes a bad URL whole) by its
// redacted form.
std::string ScrubConninfo(std::string message, std::string_view conninfo);

// True when the connection string carries a password itself.
bool ConninfoHasPassword(std::string_view conninfo);

}  // namespace walden
