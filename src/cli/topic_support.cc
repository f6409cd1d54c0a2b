#include "cli/topic_support.h"

#include <fmt/core.h>

#include "cli/commands.h"
#include "common/strings.h"
#include "topics/schema.h"

namespace walden::cli {

Result<pg::Connection> OpenTopicsApi(const Config& config) {
  if (config.source.url.empty()) {
    return Fail(ErrorKind::kConfig,
                "source.url is not set; set it in walden.toml, WALDEN_SOURCE_URL or --source-url");
  }
  auto conn = pg::Connection::Open(config.source.url);
  if (!conn) return std::unexpected(conn.error());
  auto installed = topics::InstalledVersion(*conn);
  if (!installed) return std::unexpected(installed.error());
  if (*installed == 0) {
    return Fail(ErrorKind::kConfig, "the topics API is not installed in database " +
                                        conn->database() + "; run `walden topics init` first");
  }
  if (auto current = topics::CheckVersion(*installed, topics::LatestVersion(), conn->database());
      !current) {
    return std::unexpected(current.error());
  }
  return std::move(*conn);
}

Result<std::vector<nlohmann::json>> ReadJsonLines(std::FILE* in) {
  std::vector<nlohmann::json> values;
  std::string line;
  int number = 0;
  for (int c = 0; c != EOF;) {
    line.clear();
    while ((c = std::fgetc(in)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
    if (c == EOF && line.empty()) break;
    ++number;
    if (Trim(line).empty()) continue;
    nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
      return Fail(ErrorKind::kUsage, fmt::format("line {} of the input is not JSON: {}", number,
                                                 line.size() > 80 ? line.substr(0, 77) + "..."
                                                                  : line));
    }
    values.push_back(std::move(value));
  }
  return values;
}

bool PrintLines(const pg::PgResult& result) {
  for (int row = 0; row < result.rows(); ++row) {
    const std::string_view line = result.Value(row, 0);
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
        std::fputc('\n', stdout) == EOF) {
      return false;
    }
  }
  return std::fflush(stdout) == 0;
}

int ReportApiError(const Error& error) {
  std::string message = error.message;
  if (const size_t in = message.rfind(" [in: "); in != std::string::npos) message.resize(in);
  if (message.starts_with("walden: ")) message.erase(0, 8);
  return ReportError({error.kind, message});
}

}  // namespace walden::cli
