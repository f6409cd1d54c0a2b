// Process-wide logging on spdlog: human-readable lines by default, JSON lines (one object
// per record: ts, level, logger, msg) for log pipelines. Both go to stderr so that stdout
// stays free for command output. Thread-safety: InitLogging once at start-up, before other
// threads log; spdlog's loggers are thread-safe afterwards.
#pragma once

#include <string_view>

#include "common/error.h"

namespace walden {

// level: trace|debug|info|warn|error; format: text|json.
Status InitLogging(std::string_view level, std::string_view format);

}  // namespace walden
