#include "common/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>

#include "common/units.h"

namespace walden {
namespace {

class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string ts = FormatUtcTime(
        std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count());
    const nlohmann::json record = {
        {"ts", ts},
        {"level", spdlog::level::to_string_view(msg.level).data()},
        {"logger", std::string(msg.logger_name.begin(), msg.logger_name.end())},
        {"msg", std::string(msg.payload.begin(), msg.payload.end())}};
    const std::string line =
        record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

Status InitLogging(std::string_view level, std::string_view format) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return Fail(ErrorKind::kUsage, "unknown log level \"" + std::string(level) +
                                       "\"; expected trace, debug, info, warn or error");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (format == "json") {
    logger = std::make_shared<spdlog::logger>("walden", std::make_shared<JsonSink>());
  } else if (format == "text") {
    logger = std::make_shared<spdlog::logger>(
        "walden", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  } else {
    return Fail(ErrorKind::kUsage,
                "unknown log format \"" + std::string(format) + "\"; expected text or json");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return {};
}

}  // namespace walden
