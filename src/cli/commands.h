// The subcommands behind the `walden` binary. Each returns the process exit code: 0 done,
// 1 failed (or not ready), 2 usage or configuration error. Output for people goes to
// stdout, diagnostics to stderr; nothing prints a secret.
// Thread-safety: called once from main.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"

namespace walden::cli {

int VersionCommand();
int ConfigCheckCommand(const Config& config, const std::string& file);
int ConfigExampleCommand();
int DoctorCommand(const Config& config, bool json);
struct DemoOptions {
  bool fleet = false;  // the fleet map demo instead of the shop
  int rate = 0;        // transactions (shop) or positions (fleet) per second; 0: 500 / 1,000
  int seconds = 0;     // how long the workload runs; 0: 30 s (shop) / 600 s (fleet)
  bool json = false;  // figures as JSON lines (for tests and scripts)
  std::string data_dir = "./walden-data";
};
int DemoCommand(const Config& config, const DemoOptions& options);
int NotYetCommand(const std::string& name);

struct TailOptions {
  std::vector<std::string> tables;  // output filter; empty: every captured table
  int64_t limit = 0;                // exit after this many transactions; 0: until Ctrl-C
  bool persistent = false;          // use source.slot (and advance it) instead of a temporary slot
  bool takeover = false;            // terminate another reader of the slot instead of waiting
};
int TailCommand(const Config& config, const TailOptions& options);
int ArchiveListCommand(const Config& config, bool json);
// `lock_fd`: the data directory's lock when the caller holds it already (see pipeline::Run).
int RunPipelineCommand(const Config& config, int lock_fd = -1);
int ArchiveCompactCommand(const Config& config);
// Exit 0 when every live file is present and matches its commit, 1 with one line per
// problem otherwise (and for a manifest that does not load).
int ArchiveVerifyCommand(const Config& config);
int MirrorRebuildCommand(const Config& config);
int MirrorExportCommand(const Config& config, const std::string& path, const std::string& format,
                        bool replace);
int StatusCommand(const Config& config, bool as_json);
struct SnapshotOptions {
  std::vector<std::string> tables;
  bool all = false;
  bool wait = true;  // follow the progress until the snapshot is done
};
int SnapshotCommand(const Config& config, const SnapshotOptions& options);
int ResyncCommand(const Config& config);
struct VerifyOptions {
  std::vector<std::string> tables;
  bool all = false;
  bool repair = false;  // re-snapshot the tables found different
  bool archive = false;  // compare the archive, not the mirror, with the source
  bool json = false;
};
// Exit 0 when every chunk is equal, 1 when a difference was found or the verify failed.
int VerifyCommand(const Config& config, const VerifyOptions& options);
struct QueryFlags {
  bool dry_run = false;          // print the history cost preview only
  bool allow_full_scan = false;  // run a history scan without a time or LSN bound
};
int QueryCommand(const Config& config, const std::string& sql, const std::string& format,
                 const QueryFlags& flags);

struct HistoryCommandOptions {
  std::string table;         // schema.table
  int64_t tail = 0;          // the newest N changes
  std::string since, until;  // commit-time window (DuckDB TIMESTAMPTZ text)
  std::string key;           // COLUMN=VALUE
  std::string op;            // c, u, d, t or r
  std::string as_of;         // time travel: a commit time or an LSN
  std::string format = "table";
  bool dry_run = false;
  bool allow_full_scan = false;
};
int HistoryCommand(const Config& config, const HistoryCommandOptions& options);

// Prints "walden: <message>" to stderr and returns the exit code for the error.
int ReportError(const Error& error);

}  // namespace walden::cli
