#include <fmt/core.h>
#include <libpq-fe.h>

#include "cli/commands.h"
#include "duck/duckdb.h"
#include "pg/connection.h"

namespace walden::cli {

int ReportError(const Error& error) {
  fmt::print(stderr, "walden: {}\n", error.message);
  return ExitCodeFor(error.kind);
}

int VersionCommand() {
  const int libpq = PQlibVersion();
  fmt::print("walden {}\nDuckDB {}\nlibpq {}.{}\n", WALDEN_VERSION, duck::LibraryVersion(),
             libpq / 10000, libpq % 10000);
  return 0;
}

int ConfigCheckCommand(const Config& config, const std::string& file) {
  if (!config.source.url.empty()) {
    if (auto valid = pg::ValidateConninfo(config.source.url); !valid) {
      return ReportError(valid.error());
    }
  } else {
    return ReportError({ErrorKind::kConfig,
                        "config: source.url is not set; set it in walden.toml, "
                        "WALDEN_SOURCE_URL or --source-url"});
  }
  fmt::print("# configuration is valid{}\n{}", file.empty() ? "" : " (" + file + ")",
             config.ToToml());
  return 0;
}

int ConfigExampleCommand() {
  fmt::print("{}", ExampleToml());
  return 0;
}

int NotYetCommand(const std::string& name) {
  fmt::print(stderr,
             "walden {}: not available in this build yet; it arrives with the streaming "
             "pipeline (see the README's roadmap)\n",
             name);
  return 1;
}

}  // namespace walden::cli
