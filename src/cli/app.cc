#include "cli/app.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>

#include "cli/commands.h"
#include "cli/topic_cli.h"
#include "common/logging.h"
#include "common/strings.h"

namespace walden::cli {
namespace {

// Configuration flags shared by every subcommand that reads the configuration: --config,
// one flag per key (--source-url, ...), and a few short aliases.
struct ConfigFlags {
  std::string file;
  std::map<std::string, std::string> values;

  void AddTo(CLI::App* app) {
    app->add_option("-c,--config", file,
                    "walden.toml to read (default: $WALDEN_CONFIG, else ./walden.toml if present)");
    for (const ConfigKey& key : ConfigKeys()) {
      std::string names = key.FlagName();
      if (key.path == "source.url") names += ",--source";
      app->add_option_function<std::string>(
             names,
             [this, path = std::string(key.path)](const std::string& value) {
               values[path] = value;
             },
             std::string(key.help))
          ->type_name(key.type == ValueType::kBool ? "true|false" : "VALUE")
          ->group("Configuration (also walden.toml and " + key.EnvName().substr(0, 7) +
                  "* variables)");
    }
  }

  Result<Config> Load() const {
    ConfigSources sources{.environment = WaldenEnvironment(), .flags = values};
    if (!file.empty()) {
      sources.file = file;
    } else if (const char* env = std::getenv("WALDEN_CONFIG"); env && *env) {
      sources.file = env;
    } else if (std::filesystem::exists("walden.toml")) {
      sources.file = "walden.toml";
    }
    sources.environment.erase("WALDEN_CONFIG");
    return LoadConfig(sources);
  }
};

std::string CommandPath(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a; a = a->get_parent()) {
    path = a->get_name() + (path.empty() ? "" : " " + path);
  }
  return path;
}

const CLI::App* DeepestParsed(const CLI::App* app) {
  for (const CLI::App* sub : app->get_subcommands()) return DeepestParsed(sub);
  return app;
}

// One line of error, one line of usage, one pointer to --help; exit code 2.
int UsageError(const CLI::App& root, const CLI::ParseError& e) {
  const CLI::App* app = DeepestParsed(&root);
  const std::string path = CommandPath(app);
  fmt::print(stderr, "{}: error: {}\nUsage: {} {}\nRun '{} --help' for all options.\n", path,
             OneLine(e.what()), path,
             app->get_subcommands({}).empty() ? "[OPTIONS]" : "[OPTIONS] SUBCOMMAND", path);
  return 2;
}

// Loads configuration and starts logging; returns nullopt after reporting an error.
std::optional<Config> Prepare(const ConfigFlags& flags, int& exit_code) {
  auto config = flags.Load();
  if (!config) {
    exit_code = ReportError(config.error());
    return std::nullopt;
  }
  if (auto logging = InitLogging(config->log_level, config->log_format); !logging) {
    exit_code = ReportError(logging.error());
    return std::nullopt;
  }
  return std::move(*config);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "walden: PostgreSQL changes into a Parquet archive and a DuckDB mirror, "
      "exactly once.",
      "walden"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");

  bool json = false;
  ConfigFlags flags;
  CLI::App* version = app.add_subcommand("version", "Print walden, DuckDB and libpq versions");
  CLI::App* doctor =
      app.add_subcommand("doctor",
                         "Check that the source database is ready for walden; print the fix for "
                         "each problem. Exit 0 ready, 1 not ready, 2 usage error");
  doctor->add_flag("--json", json, "Print the report as JSON");
  CLI::App* config_cmd = app.add_subcommand("config", "Validate or generate configuration");
  config_cmd->require_subcommand(1);
  CLI::App* config_check =
      config_cmd->add_subcommand("check",
                                 "Validate the configuration and print it (secrets "
                                 "masked)");
  CLI::App* config_example =
      config_cmd->add_subcommand("example", "Print an example walden.toml with every key");
  CLI::App* demo = app.add_subcommand(
      "demo", "Start a throwaway PostgreSQL with an e-commerce schema and show walden on it");
  DemoOptions demo_options;
  demo->add_flag("--fleet", demo_options.fleet,
                 "~500 aircraft publishing positions to a topic, on the console's map");
  demo->add_option("--rate", demo_options.rate,
                   "Generated transactions (shop, default 500) or positions (fleet, default "
                   "1000) per second")
      ->check(CLI::Range(1, 100000));
  demo->add_option("--seconds", demo_options.seconds,
                   "How long the workload runs (default 30, fleet 600)")
      ->check(CLI::Range(1, 86400));
  demo->add_flag("--json", demo_options.json, "Print the figures as JSON lines");
  SnapshotOptions snapshot_options;
  CLI::App* snapshot = app.add_subcommand(
      "snapshot", "Re-read tables while streaming (queued for the next run when stopped)");
  snapshot->add_option("--table", snapshot_options.tables, "A captured table (repeatable)");
  snapshot->add_flag("--all", snapshot_options.all, "Every captured table");
  snapshot->add_flag("!--no-wait", snapshot_options.wait,
                     "Return once queued instead of following the progress");
  VerifyOptions verify_options;
  CLI::App* verify = app.add_subcommand(
      "verify", "Compare the mirror with the source while walden runs, chunk by chunk");
  verify->add_option("--table", verify_options.tables, "A mirrored table (repeatable)");
  verify->add_flag("--all", verify_options.all, "Every mirrored table");
  verify->add_flag("--archive", verify_options.archive,
                   "Compare the archive (each table's latest state rebuilt from it) with the "
                   "source, instead of the mirror");
  verify->add_flag("--repair", verify_options.repair,
                   "Re-snapshot the tables found different (online)");
  verify->add_flag("--json", verify_options.json, "One JSON object per chunk, then a summary");
  CLI::App* resync = app.add_subcommand(
      "resync",
      "Recover from a lost or invalidated slot: new slot, online snapshot of every table, then "
      "run (walden run must be stopped)");
  std::vector<std::pair<CLI::App*, std::string>> later = {};
  CLI::App* run = app.add_subcommand(
      "run",
      "Stream committed changes into the archive and the mirror; Ctrl-C or SIGTERM flushes "
      "and stops");
  TailOptions tail_options;
  CLI::App* tail = app.add_subcommand(
      "tail", "Print committed changes as JSON lines, from now on (a temporary slot)");
  tail->add_option("--table", tail_options.tables, "Only these tables (repeatable)");
  tail->add_option("--limit", tail_options.limit, "Exit after this many transactions");
  tail->add_flag("--persistent", tail_options.persistent,
                 "Read from source.slot and advance it (default: a temporary slot)");
  tail->add_flag("--takeover", tail_options.takeover,
                 "If another process reads the slot, terminate it instead of waiting");
  CLI::App* archive_cmd = app.add_subcommand("archive", "Inspect and maintain the archive");
  archive_cmd->require_subcommand(1);
  bool archive_json = false;
  CLI::App* archive_ls =
      archive_cmd->add_subcommand("ls", "Tables, days, files, rows, bytes and LSN ranges");
  archive_ls->add_flag("--json", archive_json, "Print JSON");
  CLI::App* archive_compact = archive_cmd->add_subcommand(
      "compact", "Merge each table-day's small files and remove orphans past the grace period");
  CLI::App* archive_verify = archive_cmd->add_subcommand(
      "verify", "Check every file the manifest names (present, size, checksum) and the commits");
  CLI::App* mirror_cmd = app.add_subcommand("mirror", "Recover or publish the DuckDB mirror");
  mirror_cmd->require_subcommand(1);
  CLI::App* mirror_rebuild = mirror_cmd->add_subcommand(
      "rebuild", "Recreate the mirror from the archive alone (walden run must be stopped)");
  std::string export_path, export_format = "duckdb";
  CLI::App* mirror_export = mirror_cmd->add_subcommand(
      "export", "Publish a consistent read-only copy of the mirror for other tools");
  mirror_export->add_option("path", export_path, "New DuckDB file, or directory for Parquet")
      ->required();
  mirror_export->add_option("--format", export_format, "duckdb or parquet");
  bool export_replace = false;
  mirror_export->add_flag("--replace", export_replace,
                          "Replace an existing copy at path (only once the new one is complete)");
  bool status_json = false;
  CLI::App* status = app.add_subcommand(
      "status", "Slot, sinks and tables (from the running walden, else the data directory)");
  status->add_flag("--json", status_json, "Print JSON");
  std::string query_sql, query_format = "table";
  CLI::App* query = app.add_subcommand(
      "query", "Run read-only SQL over the mirror (through walden when it runs)");
  query->add_option("sql", query_sql, "One statement that returns rows")->required();
  query->add_option("--format", query_format, "table, csv or json (JSON lines)");
  QueryFlags query_flags;
  query->add_flag("--dry-run", query_flags.dry_run,
                  "Print what the history tables it reads will cost (files, bytes, requests, "
                  "price), without running it");
  query->add_flag("--allow-full-scan", query_flags.allow_full_scan,
                  "Run even when a history table is read without a time or LSN bound");
  HistoryCommandOptions history_options;
  CLI::App* history = app.add_subcommand(
      "history",
      "A table's or topic's archived changes (a window, the last N, one key), or the table as "
      "it was at a time or LSN (--as-of)");
  history->add_option("table", history_options.table, "schema.table")->required();
  history->add_option("--tail", history_options.tail, "The newest N changes")
      ->check(CLI::PositiveNumber);
  history->add_option("--since", history_options.since, "Changes committed at or after this time");
  history->add_option("--until", history_options.until, "Changes committed before this time");
  history->add_option("--key", history_options.key, "Only this key: COLUMN=VALUE");
  history->add_option("--op", history_options.op, "Only this operation: c, u, d, t or r");
  history->add_option("--as-of", history_options.as_of,
                      "The table's rows as of this commit time or LSN (0/1A2B3C), rebuilt from "
                      "the archive");
  history->add_option("--format", history_options.format, "table, csv or json (JSON lines)");
  history->add_flag("--dry-run", history_options.dry_run, "Print the cost preview only");
  history->add_flag("--allow-full-scan", history_options.allow_full_scan,
                    "Read every file of the table when no window is given");
  for (CLI::App* sub :
       {history, doctor, config_check, demo, tail, archive_ls, archive_compact, archive_verify, run,
        mirror_rebuild, mirror_export, query, status, snapshot, resync, verify}) {
    flags.AddTo(sub);
  }
  for (auto& [sub, name] : later) {
    flags.AddTo(sub);
    sub->allow_extras();
  }
  TopicCli topic_cli;
  topic_cli.Register(app, [&flags](CLI::App* sub) { flags.AddTo(sub); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(app, e);
  }

  if (version->parsed()) return VersionCommand();
  if (config_example->parsed()) return ConfigExampleCommand();
  int exit_code = 0;
  const std::optional<Config> config = Prepare(flags, exit_code);
  if (!config) return exit_code;
  for (const std::string& warning : config->warnings) spdlog::warn("{}", warning);
  if (doctor->parsed()) return DoctorCommand(*config, json);
  if (config_check->parsed()) return ConfigCheckCommand(*config, flags.file);
  if (demo->parsed()) {
    demo_options.data_dir = config->data_dir;
    return DemoCommand(*config, demo_options);
  }
  if (tail->parsed()) return TailCommand(*config, tail_options);
  if (snapshot->parsed()) return SnapshotCommand(*config, snapshot_options);
  if (resync->parsed()) return ResyncCommand(*config);
  if (verify->parsed()) return VerifyCommand(*config, verify_options);
  if (run->parsed()) return RunPipelineCommand(*config);
  if (archive_ls->parsed()) return ArchiveListCommand(*config, archive_json);
  if (archive_compact->parsed()) return ArchiveCompactCommand(*config);
  if (archive_verify->parsed()) return ArchiveVerifyCommand(*config);
  if (mirror_rebuild->parsed()) return MirrorRebuildCommand(*config);
  if (mirror_export->parsed()) {
    return MirrorExportCommand(*config, export_path, export_format, export_replace);
  }
  if (history->parsed()) return HistoryCommand(*config, history_options);
  if (query->parsed()) return QueryCommand(*config, query_sql, query_format, query_flags);
  if (status->parsed()) return StatusCommand(*config, status_json);
  if (auto topic_exit = topic_cli.Run(*config)) return *topic_exit;
  for (auto& [sub, name] : later) {
    if (sub->parsed()) return NotYetCommand(name);
  }
  return 2;
}

}  // namespace walden::cli
