// PostgreSQL's COPY text format (one row per line, tab-separated, `\N` for NULL, backslash
// escapes) turned into pgoutput tuples, so that rows a snapshot reads travel through the
// same decoders as streamed rows: an unescaped COPY text field is exactly the type's output
// function text, which is what pgoutput sends in text mode. Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "common/error.h"
#include "pg/pgoutput.h"

namespace walden::snapshot {

// Parses one line (without its newline) of `columns` fields into `out` (cleared first).
// Malformed input (wrong field count, a dangling backslash) is a kProtocol error.
Status ParseCopyTextLine(std::string_view line, size_t columns, pg::pgoutput::Tuple& out);

}  // namespace walden::snapshot
