// The one declaration of every configuration key.
#include <array>

#include "common/config.h"
#include "common/strings.h"

namespace walden {
namespace {

using enum ValueType;

constexpr std::array kKeys = {
    ConfigKey{"data_dir", kString, "./walden-data",
              "Local state: spool, snapshot progress, locks, default archive and mirror."},
    ConfigKey{"source.url", kString, "",
              "libpq URL or keyword string of the source database. Keep the password out: "
              "use PGPASSWORD or ~/.pgpass."},
    ConfigKey{"source.slot", kString, "walden", "Logical replication slot walden owns."},
    ConfigKey{"source.publication", kString, "walden",
              "Publication walden reads (created for the captured tables when missing)."},
    ConfigKey{"source.tables", kStringList, "",
              "Captured tables: schema.table, schema.* or quoted names such as "
              "'\"Weird Schema\".\"Select\"'. Empty: every table."},
    ConfigKey{"source.failover", kBool, "false",
              "PostgreSQL 17+: create the slot with FAILOVER so it survives a standby "
              "promotion."},
    ConfigKey{"source.binary", kBool, "false", "Ask pgoutput for binary column values."},
    ConfigKey{"source.memory_limit",
              kSize,
              "16MB",
              "Memory for buffered in-progress transactions before they spill to data_dir.",
              {},
              int64_t{1} << 20},
    ConfigKey{"source.lag_warn",
              kSize,
              "1GB",
              "Log a warning when the slot holds more WAL than this.",
              {},
              int64_t{1} << 20},
    ConfigKey{"source.status_interval",
              kDuration,
              "10s",
              "Longest time between standby status updates to the server.",
              {},
              100000},
    ConfigKey{"source.receive_timeout",
              kDuration,
              "30s",
              "A replication stream silent this long (after asking for a keepalive at half of "
              "it) is treated as cut and reconnected.",
              {},
              1000000},
    ConfigKey{"archive.url", kString, "",
              "file:///path or s3://bucket/prefix. Empty: <data_dir>/archive."},
    ConfigKey{"archive.endpoint", kString, "",
              "S3 endpoint for S3-compatible stores, e.g. http://127.0.0.1:9000. Empty: AWS."},
    ConfigKey{"archive.region", kString, "us-east-1", "S3 region used for request signing."},
    ConfigKey{"archive.addressing", kEnum, "auto",
              "S3 bucket addressing: path, virtual (host) or auto (virtual on AWS, path on a "
              "custom endpoint).",
              "auto|path|virtual"},
    ConfigKey{"archive.flush_interval",
              kDuration,
              "10s",
              "Longest time changes wait in the spool before a Parquet segment is written.",
              {},
              10000},
    ConfigKey{"archive.flush_size",
              kSize,
              "64MB",
              "Spool size that forces a segment early.",
              {},
              int64_t{1} << 20},
    ConfigKey{"archive.spool_memory_limit",
              kSize,
              "128MB",
              "Memory the spool's DuckDB may use before it spills to disk (at least 128MB: "
              "below, large flushes fail for lack of memory).",
              {},
              int64_t{128} << 20},
    ConfigKey{"archive.compact_target_size",
              kSize,
              "128MB",
              "Target file size when compaction merges a table-day's small files.",
              {},
              int64_t{1} << 20},
    ConfigKey{"archive.orphan_grace",
              kDuration,
              "1h",
              "Age after which files no manifest commit names are deleted.",
              {},
              1000000},
    ConfigKey{"mirror.path", kString, "",
              "DuckDB file holding the current state. Empty: <data_dir>/mirror.duckdb."},
    ConfigKey{"mirror.export_dir", kString, "",
              "The directory `walden mirror export` writes to through a running walden (the "
              "HTTP API writes nowhere else). Empty: <data_dir>/exports."},
    ConfigKey{"mirror.apply_interval",
              kDuration,
              "50ms",
              "How often committed transactions are merged into the mirror.",
              {},
              10000},
    ConfigKey{"mirror.memory_limit",
              kSize,
              "64MB",
              "Memory the mirror's DuckDB may use for merges before it spills to disk (at least "
              "64MB; a merge that does not fit runs again in parts).",
              {},
              int64_t{64} << 20},
    ConfigKey{"snapshot.mode", kEnum, "initial",
              "initial: load existing rows when the slot is new; online: load them while "
              "streaming; never: only stream changes.",
              "initial|online|never"},
    ConfigKey{
        "snapshot.workers", kInteger, "2", "Parallel connections for snapshot reads.", {}, 1, 64},
    ConfigKey{
        "snapshot.chunk_rows", kInteger, "100000", "Rows per snapshot chunk.", {}, 1, 100000000},
    ConfigKey{"server.listen", kString, "127.0.0.1:8080",
              "host:port of the HTTP endpoint (/metrics, /healthz, /readyz, /api)."},
    ConfigKey{"server.token", kString, "",
              "Secret clients send (Authorization: Bearer, or the walden_token cookie); "
              "required unless server.listen is a loopback address. Prefer "
              "WALDEN_SERVER_TOKEN to keep it out of files."},
    ConfigKey{"server.public_name", kString, "",
              "Host name (without port) clients use to reach the server besides loopback "
              "names; requests naming any other Host are refused."},
    ConfigKey{"server.max_feed_clients",
              kInteger,
              "64",
              "Live-feed (Server-Sent Events) clients served at once; each holds a thread.",
              {},
              1,
              1000},
    ConfigKey{"canary.interval", kDuration, "5s", "How often a heartbeat is written.", {}, 100000},
    ConfigKey{"canary.stale_after",
              kDuration,
              "30s",
              "Heartbeat age after which walden reports itself not ready.",
              {},
              1000000},
    ConfigKey{"verify.interval",
              kDuration,
              "",
              "How often walden verifies every mirrored table against the source in the "
              "background (as `walden verify --all`); unset: never.",
              {},
              1000000},
    ConfigKey{"verify.archive", kBool, "false",
              "Scheduled verifies also compare the archive with the source (each table's "
              "latest state rebuilt from the archive, as `walden verify --archive --all`)."},
    ConfigKey{"query.price_per_1000_requests", kNumber, "0.0004",
              "USD per 1,000 GET requests of a remote archive, for the cost preview of history "
              "queries (S3 Standard's list price)."},
    ConfigKey{"query.price_per_gb", kNumber, "0.09",
              "USD per GB read from a remote archive, for the cost preview (S3's internet "
              "egress list price; 0 inside the bucket's region)."},
    ConfigKey{"query.timeout",
              kDuration,
              "5m",
              "A query running longer is stopped (walden query and POST /api/query).",
              {},
              100000},
    ConfigKey{"query.max_result",
              kSize,
              "64MB",
              "A query whose output grows past this is stopped with an error (narrow it, or "
              "export the mirror).",
              {},
              int64_t{1} << 10},
    ConfigKey{"query.cache_size",
              kSize,
              "1GB",
              "Local copies of a remote archive's files kept for history queries "
              "(<data_dir>/history); the least recently used beyond it are removed.",
              {},
              0},
    ConfigKey{"topics.maintenance_interval", kDuration, "10s",
              "How often walden run creates topic partitions ahead and drops those past "
              "retention that the archive holds."},
    ConfigKey{"log.level", kEnum, "info", "trace, debug, info, warn or error.",
              "trace|debug|info|warn|error"},
    ConfigKey{"log.format", kEnum, "text", "text for people, json for log pipelines.", "text|json"},
};

std::string ReplaceAll(std::string s, char from, char to) {
  for (char& c : s) {
    if (c == from) c = to;
  }
  return s;
}

}  // namespace

std::string ConfigKey::EnvName() const {
  return "WALDEN_" + AsciiUpper(ReplaceAll(std::string(path), '.', '_'));
}

std::string ConfigKey::FlagName() const {
  return "--" + ReplaceAll(ReplaceAll(std::string(path), '.', '-'), '_', '-');
}

std::span<const ConfigKey> ConfigKeys() { return kKeys; }

const ConfigKey* FindConfigKey(std::string_view path) {
  for (const ConfigKey& key : kKeys) {
    if (key.path == path) return &key;
  }
  return nullptr;
}

std::string ExampleToml() {
  std::string out =
      "# walden.example.toml: every key with its default. Each key can also be set by an\n"
      "# environment variable (shown) or a command-line flag (shown); flags win over the\n"
      "# environment, which wins over this file. Durations: 100ms, 10s, 5m, 1h. Sizes: 64MB.\n";
  std::string section;
  for (const ConfigKey& key : kKeys) {
    const size_t dot = key.path.find('.');
    const std::string key_section =
        dot == std::string_view::npos ? "" : std::string(key.path.substr(0, dot));
    if (key_section != section) {
      section = key_section;
      out += "\n[" + section + "]\n";
    }
    out += "\n# " + std::string(key.help) + "\n# env " + key.EnvName() + ", flag " +
           key.FlagName() + "\n";
    const std::string name(dot == std::string_view::npos ? key.path : key.path.substr(dot + 1));
    std::string value(key.default_value);
    if (key.type == kStringList) {
      value = "[]";
    } else if (key.type != kBool && key.type != kInteger && key.type != kNumber) {
      value = "\"" + value + "\"";
    }
    // Keys without a default show an example value, commented out.
    static constexpr std::pair<std::string_view, std::string_view> kExamples[] = {
        {"source.url", "postgresql://walden@db.example.com:5432/shop"},
        {"archive.url", "s3://my-bucket/walden"},
        {"archive.endpoint", "http://127.0.0.1:9000"},
        {"mirror.path", "/var/lib/walden/mirror.duckdb"}};
    for (const auto& [path, example] : kExamples) {
      if (path == key.path) value = "\"" + std::string(example) + "\"";
    }
    out += (key.default_value.empty() && key.type != kStringList ? "# " : "") + name + " = " +
           value + "\n";
  }
  return out;
}

}  // namespace walden
