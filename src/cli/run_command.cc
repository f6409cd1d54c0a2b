#include <signal.h>

#include <atomic>

#include "cli/commands.h"
#include "pipeline/runner.h"

namespace walden::cli {
namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

}  // namespace

int RunPipelineCommand(const Config& config) {
  if (config.source.url.empty()) {
    return ReportError({ErrorKind::kUsage,
                        "run: no source database; pass --source URL, set WALDEN_SOURCE_URL or "
                        "source.url in walden.toml"});
  }
  struct sigaction action {};
  action.sa_handler = &OnStop;  // no SA_RESTART: blocking waits return early
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  if (auto ran = pipeline::Run(config, g_stop); !ran) return ReportError(ran.error());
  return 0;
}

}  // namespace walden::cli
