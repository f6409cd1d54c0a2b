#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "archive/maintenance.h"
#include "archive/manifest.h"
#include "cli/commands.h"
#include "common/units.h"
#include "store/object_store.h"

namespace walden::cli {
namespace {

struct TableDay {
  int files = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  uint64_t first_lsn = UINT64_MAX;
  uint64_t last_lsn = 0;
  int64_t first_time = INT64_MAX;
  int64_t last_time = INT64_MIN;
};

std::string Iso(int64_t unix_micros) { return FormatUtcTime(unix_micros, false); }

}  // namespace

int ArchiveListCommand(const Config& config, bool json) {
  auto store = store::OpenStore(config.archive);
  if (!store) return ReportError(store.error());
  archive::Manifest manifest(**store);
  auto state = manifest.Load();
  if (!state) return ReportError(state.error());
  std::map<std::pair<std::string, std::string>, TableDay> summary;
  for (const auto& [key, file] : state->live) {
    TableDay& day = summary[{file.table.Display(), file.day}];
    ++day.files;
    day.rows += file.rows;
    day.bytes += file.bytes;
    day.first_lsn = std::min(day.first_lsn, file.first_lsn);
    day.last_lsn = std::max(day.last_lsn, file.last_lsn);
    day.first_time = std::min(day.first_time, file.min_commit_time);
    day.last_time = std::max(day.last_time, file.max_commit_time);
  }
  if (json) {
    nlohmann::json tables = nlohmann::json::array();
    for (const auto& [name_day, day] : summary) {
      tables.push_back({{"table", name_day.first},
                        {"day", name_day.second},
                        {"files", day.files},
                        {"rows", day.rows},
                        {"bytes", day.bytes},
                        {"min_commit_lsn", Lsn{day.first_lsn}.ToString()},
                        {"max_commit_lsn", Lsn{day.last_lsn}.ToString()},
                        {"min_commit_time", Iso(day.first_time)},
                        {"max_commit_time", Iso(day.last_time)}});
    }
    fmt::print("{}\n", nlohmann::json{{"archive", (*store)->url()},
                                      {"commits", state->last_sequence},
                                      {"watermark", state->watermark.commit_lsn.ToString()},
                                      {"tables", tables}}
                           .dump(2));
    return 0;
  }
  fmt::print("archive {}: {} commits, watermark {} (end {})\n\n", (*store)->url(),
             state->last_sequence, state->watermark.commit_lsn.ToString(),
             state->watermark.end_lsn.ToString());
  fmt::print("{:<32} {:<10} {:>5} {:>10} {:>9}  {}\n", "table", "day", "files", "rows", "bytes",
             "commit LSNs and times");
  for (const auto& [name_day, day] : summary) {
    fmt::print("{:<32} {:<10} {:>5} {:>10} {:>9}  {} - {}  {} - {}\n", name_day.first,
               name_day.second, day.files, day.rows, FormatSize(day.bytes),
               Lsn{day.first_lsn}.ToString(), Lsn{day.last_lsn}.ToString(), Iso(day.first_time),
               Iso(day.last_time));
  }
  return 0;
}

int ArchiveCompactCommand(const Config& config) {
  auto store = store::OpenStore(config.archive);
  if (!store) return ReportError(store.error());
  archive::Manifest manifest(**store);
  const std::string owner = fmt::format("compact-{}-{}", getpid(), time(nullptr));
  if (auto leased = manifest.AcquireLease(owner, std::chrono::seconds(600)); !leased) {
    return ReportError(leased.error());
  }
  auto state = manifest.Load();
  if (!state) return ReportError(state.error());
  const std::string work = config.data_dir + "/compact";
  auto report =
      archive::Compact(**store, manifest, *state,
                       {.target_bytes = config.archive.compact_target_size, .work_dir = work});
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
  if (!report) {
    (void)manifest.ReleaseLease(owner);
    return ReportError(report.error());
  }
  auto orphans = archive::CollectOrphans(**store, *state, config.archive.orphan_grace);
  (void)manifest.ReleaseLease(owner);
  if (!orphans) return ReportError(orphans.error());
  fmt::print(
      "compacted {} files ({}) into {} ({}); removed {} replaced files, quarantined {} that no "
      "commit names, {} younger than {}\n",
      report->files_in, FormatSize(report->bytes_in), report->files_out,
      FormatSize(report->bytes_out), orphans->deleted.size(), orphans->quarantined.size(),
      orphans->too_young.size(), FormatDuration(config.archive.orphan_grace));
  return 0;
}

int ArchiveVerifyCommand(const Config& config) {
  auto store = store::OpenStore(config.archive);
  if (!store) return ReportError(store.error());
  archive::Manifest manifest(**store);
  auto state = manifest.Load();  // sequence, readability and watermarks of every commit
  if (!state) return ReportError(state.error());
  auto report = archive::Verify(**store, *state, config.data_dir + "/history");
  if (!report) return ReportError(report.error());
  for (const std::string& problem : report->problems) fmt::print("damaged: {}\n", problem);
  for (const std::string& key : report->quarantined) {
    fmt::print(
        "quarantined: {} (no commit names it: a flush interrupted before its commit, or "
        "what remains of a lost commit; delete it once you know which)\n",
        key);
  }
  fmt::print("archive {}: {} commits, {} files ({}), watermark {}: {}\n", (*store)->url(),
             report->commits, report->files, FormatSize(report->bytes),
             state->watermark.commit_lsn.ToString(),
             report->problems.empty() ? "verified"
                                      : fmt::format("{} damaged files", report->problems.size()));
  if (report->without_checksum > 0) {
    fmt::print(
        "{} files were written before walden recorded checksums: only their size was "
        "checked\n",
        report->without_checksum);
  }
  return report->problems.empty() ? 0 : 1;
}

}  // namespace walden::cli
