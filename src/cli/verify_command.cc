// `walden verify`: asks the running walden to compare its mirror with the source (POST
// /api/verify) and prints one line per chunk and a summary.
#include <fmt/core.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/strings.h"
#include "pipeline/http_api.h"
#include "pipeline/runner.h"
#include "server/http_server.h"

namespace walden::cli {

int VerifyCommand(const Config& config, const VerifyOptions& options) {
  if (options.tables.empty() && !options.all) {
    return ReportError({ErrorKind::kUsage,
                        "name the tables to verify (--table schema.table, repeatable) or --all"});
  }
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (lock) {
    close(*lock);
    return ReportError(
        {ErrorKind::kUsage,
         "walden is not running with data_dir " + config.data_dir +
             ": verify compares the source with a mirror the stream keeps current; start "
             "`walden run` first"});
  }
  if (lock.error().kind != ErrorKind::kUsage) return ReportError(lock.error());
  auto address = pipeline::RunningAddress(config.data_dir);
  if (!address) return ReportError(address.error());
  auto response = server::Post(*address, "/api/verify",
                               {{"format", "json"},
                                {"repair", options.repair ? "true" : "false"},
                                {"target", options.archive ? "archive" : "mirror"}},
                               options.all ? "" : Join(options.tables, "\n"), config.server_token);
  if (!response) return ReportError(response.error());
  if (response->status != 200) return ReportError({ErrorKind::kUsage, response->body});
  nlohmann::json summary;
  std::vector<std::string> chunk_lines;  // each chunk's "text", for people
  for (const std::string& line : Split(response->body, '\n')) {
    if (line.empty()) continue;
    if (options.json) fmt::print("{}\n", line);
    const nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_object()) continue;
    if (parsed.contains("summary")) summary = parsed["summary"];
    if (parsed.contains("text")) chunk_lines.push_back(parsed["text"].get<std::string>());
  }
  if (!summary.is_object()) {
    return ReportError({ErrorKind::kProtocol,
                        "walden ended the verify without a summary: " + OneLine(response->body)});
  }
  if (!options.json) {
    for (const std::string& line : chunk_lines) fmt::print("{}\n", line);
    const nlohmann::json& chunks = summary["chunks"];
    fmt::print("verify{}: {} chunks equal, {} different, {} skipped",
               options.archive ? " (archive)" : "", chunks.value("equal", 0),
               chunks.value("different", 0), chunks.value("skipped", 0));
    if (!summary["different_tables"].empty()) {
      fmt::print("; different: {}",
                 Join(summary["different_tables"].get<std::vector<std::string>>(), ", "));
      const std::string repair = summary.value("repair", "");
      fmt::print("{}", options.repair ? "; repair: " + repair
                                      : "; `walden verify --repair` re-snapshots them");
    }
    fmt::print("\n");
  }
  const std::string result = summary.value("result", "");
  if (result == "failed") return ReportError({ErrorKind::kIo, summary.value("error", "")});
  return result == "equal" ? 0 : 1;
}

}  // namespace walden::cli
