// walden's configuration: the keys every module agrees on (design §9), read from a TOML
// file, then environment variables (WALDEN_SOURCE_URL, ...), then command-line flags
// (--source-url, ...), each layer overriding the one before.
//
// Every key is declared once in `ConfigKeys()`: its type, default and help text drive the
// TOML reader, the environment and flag names, `walden.example.toml` and error messages.
// Unknown keys are errors with a did-you-mean. Secrets (passwords) are never part of an
// error message or of `ToToml()`. Thread-safety: plain values; loading is a pure function of
// its inputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "common/units.h"

namespace walden {

enum class ValueType { kString, kBool, kInteger, kNumber, kDuration, kSize, kStringList, kEnum };

struct ConfigKey {
  std::string_view path;  // "source.url"
  ValueType type;
  std::string_view default_value;  // textual; empty = unset
  std::string_view help;
  std::string_view choices = {};  // enums: "initial|online|never"
  int64_t min = 0;                // integers; sizes: bytes (0: any positive size)
  int64_t max = 0;

  std::string EnvName() const;   // WALDEN_SOURCE_URL
  std::string FlagName() const;  // --source-url
};

std::span<const ConfigKey> ConfigKeys();
const ConfigKey* FindConfigKey(std::string_view path);

struct SourceConfig {
  std::string url;
  std::string slot;
  std::string publication;
  std::vector<TableSelector> tables;  // empty: every table
  bool failover = false;
  bool binary = false;
  int64_t memory_limit = 0;
  int64_t lag_warn_bytes = 0;
  Duration status_interval{};
  Duration receive_timeout{};
};

enum class Addressing { kAuto, kPath, kVirtual };

struct ArchiveConfig {
  std::string url;  // file:///abs/path or s3://bucket/prefix
  std::string endpoint;
  std::string region;
  Addressing addressing = Addressing::kAuto;
  Duration flush_interval{};
  int64_t flush_size = 0;
  int64_t spool_memory_limit = int64_t{128} << 20;  // as config_keys.cc
  int64_t compact_target_size = 0;
  Duration orphan_grace{};
};

struct MirrorConfig {
  std::string path;
  std::string export_dir;  // absolute; the only place the HTTP API writes exports
  Duration apply_interval{};
  int64_t memory_limit = int64_t{64} << 20;  // as config_keys.cc
};

enum class SnapshotMode { kInitial, kOnline, kNever };

struct SnapshotConfig {
  SnapshotMode mode = SnapshotMode::kInitial;
  int workers = 0;
  int64_t chunk_rows = 0;
};

struct CanaryConfig {
  Duration interval{};
  Duration stale_after{};
};

struct VerifyConfig {
  Duration interval{};  // 0: no scheduled verify
  bool archive = false;  // scheduled verifies also check the archive
};

struct QueryConfig {
  // What reading a remote archive costs, for the preview of history queries (USD).
  double price_per_1000_requests = 0;
  double price_per_gb = 0;
  Duration timeout{};
  int64_t max_result = 0;  // bytes of output
  int64_t cache_size = 0;  // bytes of <data_dir>/history
};

struct TopicsConfig {
  Duration maintenance_interval{};
};

struct Config {
  std::string data_dir;
  SourceConfig source;
  ArchiveConfig archive;
  MirrorConfig mirror;
  SnapshotConfig snapshot;
  CanaryConfig canary;
  VerifyConfig verify;
  TopicsConfig topics;
  QueryConfig query;
  std::string server_listen;
  std::string server_token;        // secret: never printed
  std::string server_public_name;  // host name clients use besides loopback ones
  int server_max_feed_clients = 64;
  std::string log_level;
  std::string log_format;
  // Not errors, but worth a line in the log (e.g. a password inside source.url).
  std::vector<std::string> warnings;

  // The effective configuration as TOML, secrets masked.
  std::string ToToml() const;
};

// One key's value before it is typed, and where it came from ("walden.toml:4",
// "environment variable WALDEN_SOURCE_URL", "flag --source-url").
struct RawValue {
  std::string text;               // scalar values, as written
  std::vector<std::string> list;  // list values
  bool is_list = false;
  bool from_toml_string = true;  // TOML only: false for a bare number/bool
  std::string origin;
};
using RawConfig = std::map<std::string, RawValue, std::less<>>;

struct ConfigSources {
  std::optional<std::string> file;                 // path of walden.toml; nullopt: none
  std::map<std::string, std::string> environment;  // usually the process environment
  std::map<std::string, std::string> flags;        // key path -> value from the command line
};

// Reads TOML text (origin names the file in messages) into raw values.
Result<RawConfig> ReadToml(std::string_view text, std::string_view origin);

// Layers file, environment and flags, then types and validates every key.
Result<Config> LoadConfig(const ConfigSources& sources);

// server.listen names a loopback address (127.0.0.0/8, ::1, localhost).
bool IsLoopbackListen(std::string_view listen);

// The process environment as a map (only WALDEN_* variables).
std::map<std::string, std::string> WaldenEnvironment();

// Text of walden.example.toml: every key with its default and help.
std::string ExampleToml();

}  // namespace walden
