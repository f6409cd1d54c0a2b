
#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "pipeline/runner.h"

namespace walden::cli {
int RunPipelineCommand(const Config& config, int lock_fd) {
  if (config.source.url.empty()) {
    return ReportError({ErrorKind::kUsage,
                        "run: no source database; pass --source URL, set WALDEN_SOURCE_URL or "
                        "source.url in walden.toml"});
  }
  if (auto ran = pipeline::Run(config, InstallStopHandlers(), nullptr, lock_fd); !ran) {
    return ReportError(ran.error());
  }
  return 0;
}

}  // namespace walden::cli
