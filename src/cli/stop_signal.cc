#include "cli/stop_signal.h"

#include <signal.h>

namespace walden::cli {
namespace {

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

}  // namespace

std::atomic<bool>& InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = &OnStop;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return g_stop;
}

}  // namespace walden::cli
