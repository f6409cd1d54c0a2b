#include <fmt/core.h>
#include <unistd.h>

#include "cli/commands.h"
#include "pipeline/rebuild.h"
#include "pipeline/runner.h"
#include "store/object_store.h"

namespace walden::cli {

int MirrorRebuildCommand(const Config& config) {
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (!lock) return ReportError(lock.error());
  auto store = store::OpenStore(config.archive);
  if (!store) return ReportError(store.error());
  auto result = pipeline::RebuildMirror(**store, config.mirror.path, config.data_dir + "/segments");
  close(*lock);
  if (!result) return ReportError(result.error());
  fmt::print("rebuilt {} from {}: {} tables, {} changes, watermark {}\n", config.mirror.path,
             (*store)->url(), result->tables, result->changes, result->watermark.ToString());
  return 0;
}

}  // namespace walden::cli
