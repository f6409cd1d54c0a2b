#include "common/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/redact.h"
#include "common/strings.h"

namespace walden {
namespace {

std::vector<std::string> AllKeyPaths() {
  std::vector<std::string> paths;
  for (const ConfigKey& key : ConfigKeys()) paths.emplace_back(key.path);
  return paths;
}

std::vector<std::string> SectionNames() {
  std::vector<std::string> sections;
  for (const ConfigKey& key : ConfigKeys()) {
    const size_t dot = key.path.find('.');
    if (dot == std::string_view::npos) continue;
    std::string section(key.path.substr(0, dot));
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      sections.push_back(section);
    }
  }
  return sections;
}

std::unexpected<Error> UnknownKey(std::string_view what, std::string_view name,
                                  std::string_view origin,
                                  std::span<const std::string> candidates) {
  std::string message = "config: unknown " + std::string(what) + " \"" + std::string(name) +
                        "\" (" + std::string(origin) + ")";
  if (auto suggestion = ClosestMatch(name, candidates)) {
    message += "; did you mean \"" + *suggestion + "\"?";
  } else {
    message += "; see walden.example.toml for every key";
  }
  return Fail(ErrorKind::kConfig, message);
}

std::string Origin(std::string_view file, const toml::node& node) {
  return std::string(file) + ":" + std::to_string(node.source().begin.line);
}

Result<RawValue> ToRaw(std::string_view path, const toml::node& node, std::string_view file) {
  RawValue raw;
  raw.origin = Origin(file, node);
  if (const auto* s = node.as_string()) {
    raw.text = s->get();
  } else if (const auto* i = node.as_integer()) {
    raw.text = std::to_string(i->get());
    raw.from_toml_string = false;
  } else if (const auto* f = node.as_floating_point()) {
    char text[64];
    raw.text.assign(text, std::to_chars(text, text + sizeof text, f->get()).ptr);
    raw.from_toml_string = false;
  } else if (const auto* b = node.as_boolean()) {
    raw.text = b->get() ? "true" : "false";
    raw.from_toml_string = false;
  } else if (const auto* array = node.as_array()) {
    raw.is_list = true;
    for (const toml::node& element : *array) {
      const auto* s2 = element.as_string();
      if (!s2) {
        return Fail(ErrorKind::kConfig, "config: " + std::string(path) + " (" + raw.origin +
                                            "): every element must be a string");
      }
      raw.list.push_back(s2->get());
    }
  } else {
    return Fail(ErrorKind::kConfig, "config: " + std::string(path) + " (" + raw.origin +
                                        "): unsupported TOML value; use a string, number, "
                                        "boolean or array of strings");
  }
  return raw;
}

// Splits a list given on the command line or in the environment at commas that are not
// inside double quotes, so that "a,b".c stays one selector.
std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  std::string current;
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      items.emplace_back(Trim(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (!Trim(current).empty() || !items.empty()) items.emplace_back(Trim(current));
  return items;
}

}  // namespace

Result<RawConfig> ReadToml(std::string_view text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorKind::kConfig, "config: " + std::string(origin) + ":" +
                                        std::to_string(e.source().begin.line) + ":" +
                                        std::to_string(e.source().begin.column) +
                                        ": invalid TOML: " + std::string(e.description()));
  }
  const std::vector<std::string> paths = AllKeyPaths();
  const std::vector<std::string> sections = SectionNames();
  RawConfig raw;
  auto add = [&](const std::string& path, const toml::node& node) -> Status {
    if (!FindConfigKey(path)) return UnknownKey("key", path, Origin(origin, node), paths);
    auto value = ToRaw(path, node, origin);
    if (!value) return std::unexpected(value.error());
    raw[path] = std::move(*value);
    return {};
  };
  for (const auto& [name, node] : root) {
    const std::string key(name.str());
    const auto* section = node.as_table();
    if (!section) {
      if (auto ok = add(key, node); !ok) return std::unexpected(ok.error());
      continue;
    }
    if (std::find(sections.begin(), sections.end(), key) == sections.end()) {
      return UnknownKey("section", key, Origin(origin, node), sections);
    }
    for (const auto& [sub_name, sub_node] : *section) {
      if (auto ok = add(key + "." + std::string(sub_name.str()), sub_node); !ok) {
        return std::unexpected(ok.error());
      }
    }
  }
  return raw;
}

namespace {

// Applies WALDEN_* variables; an unknown variable in a known section is a typo.
Status ApplyEnvironment(const std::map<std::string, std::string>& env, RawConfig& raw) {
  std::vector<std::string> env_names;
  for (const ConfigKey& key : ConfigKeys()) env_names.push_back(key.EnvName());
  std::vector<std::string> prefixes = {"WALDEN_DATA_"};
  for (const std::string& section : SectionNames()) {
    prefixes.push_back("WALDEN_" + AsciiUpper(section) + "_");
  }
  for (const auto& [name, value] : env) {
    const ConfigKey* match = nullptr;
    for (const ConfigKey& key : ConfigKeys()) {
      if (key.EnvName() == name) match = &key;
    }
    if (match) {
      RawValue v{.text = value, .origin = "environment variable " + name};
      raw[std::string(match->path)] = std::move(v);
      continue;
    }
    for (const std::string& prefix : prefixes) {
      if (name.starts_with(prefix)) {
        return UnknownKey("environment variable", name, "environment", env_names);
      }
    }
  }
  return {};
}

class Typer {
 public:
  explicit Typer(const RawConfig& raw) : raw_(raw) {}

  const std::optional<Error>& error() const { return error_; }

  std::string String(std::string_view path) {
    const RawValue value = Get(path);
    if (value.is_list || !value.from_toml_string) Bad(path, value, "expected a string");
    return value.text;
  }

  bool Bool(std::string_view path) {
    const RawValue value = Get(path);
    const std::string text = AsciiLower(value.text);
    if (!value.is_list) {
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
    }
    Bad(path, value, "expected true or false");
    return false;
  }

  double Number(std::string_view path) {
    const RawValue value = Get(path);
    double n = 0;
    const auto [end, ec] =
        std::from_chars(value.text.data(), value.text.data() + value.text.size(), n);
    if (value.is_list || ec != std::errc() || end != value.text.data() + value.text.size() ||
        !(n >= 0)) {
      Bad(path, value, "expected a number, 0 or more (e.g. 0.09)");
    }
    return n;
  }

  int64_t Integer(std::string_view path) {
    const RawValue value = Get(path);
    const ConfigKey& key = *FindConfigKey(path);
    int64_t n = 0;
    const auto [end, ec] =
        std::from_chars(value.text.data(), value.text.data() + value.text.size(), n);
    if (value.is_list || ec != std::errc() || end != value.text.data() + value.text.size() ||
        n < key.min || n > key.max) {
      Bad(path, value,
          "expected a whole number from " + std::to_string(key.min) + " to " +
              std::to_string(key.max));
    }
    return n;
  }

  Duration DurationValue(std::string_view path) {
    const Duration value = Duration(Positive(
        path, "duration", "10s", [](std::string_view text) { return ParseDuration(text); }));
    const ConfigKey& key = *FindConfigKey(path);
    if (key.min > 0 && value.count() < key.min) {
      Bad(path, Get(path), "expected at least " + FormatDuration(Duration(key.min)));
    }
    return value;
  }

  int64_t Size(std::string_view path) {
    const int64_t size =
        Positive(path, "size", "64MB", [](std::string_view text) { return ParseSize(text); });
    const ConfigKey& key = *FindConfigKey(path);
    if (key.min > 0 && size < key.min) {
      Bad(path, Get(path), "expected at least " + FormatSize(key.min));
    }
    return size;
  }

  std::string Enum(std::string_view path) {
    const RawValue value = Get(path);
    const ConfigKey& key = *FindConfigKey(path);
    const std::vector<std::string> choices = Split(key.choices, '|');
    if (!value.is_list && std::find(choices.begin(), choices.end(), value.text) != choices.end()) {
      return value.text;
    }
    Bad(path, value, "expected one of " + Join(choices, ", "));
    return choices.front();
  }

  std::vector<std::string> List(std::string_view path) {
    const RawValue value = Get(path);
    if (value.is_list) return value.list;
    if (value.origin.starts_with("environment") || value.origin.starts_with("flag") ||
        value.origin == "default") {
      return SplitList(value.text);
    }
    Bad(path, value, "expected an array of strings, e.g. [\"public.orders\"]");
    return {};
  }

  // A positive quantity with a unit, written as a string: durations and sizes.
  template <class ParseFn>
  int64_t Positive(std::string_view path, std::string_view what, std::string_view example,
                   ParseFn parse) {
    const RawValue value = Get(path);
    std::string problem;
    if (value.is_list || !value.from_toml_string) {
      problem = "a string with a unit such as \"" + std::string(example) +
                "\" (a bare number has no unit)";
    } else if (auto parsed = parse(value.text); !parsed) {
      problem = parsed.error();
    } else if (ToCount(*parsed) == 0) {
      problem = "more than zero";
    } else {
      return ToCount(*parsed);
    }
    Bad(path, value, "expected a positive " + std::string(what) + ": " + problem);
    return 1;
  }

  static int64_t ToCount(int64_t n) { return n; }
  static int64_t ToCount(Duration d) { return d.count(); }

  void Fail(std::string_view path, const RawValue& value, std::string_view problem) {
    Bad(path, value, problem);
  }

  RawValue Get(std::string_view path) const {
    if (auto it = raw_.find(path); it != raw_.end()) return it->second;
    return RawValue{.text = std::string(FindConfigKey(path)->default_value), .origin = "default"};
  }

 private:
  void Bad(std::string_view path, const RawValue& value, std::string_view problem) {
    if (error_) return;
    std::string shown = value.is_list ? "[" + Join(value.list, ", ") + "]" : value.text;
    if (path == "source.url") shown = RedactConninfo(shown);
    if (path == "server.token") shown = "********";
    error_ = Error{ErrorKind::kConfig, "config: " + std::string(path) + " = \"" + shown + "\" (" +
                                           value.origin + "): " + std::string(problem)};
  }

  const RawConfig& raw_;
  std::optional<Error> error_;
};

}  // namespace
}  // namespace walden

namespace walden {
namespace {

bool IsSlotName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return name.front() != '-' && name.front() != '.' && name.back() != '-' && name.back() != '.';
}

// Never throws: an empty path (already reported as an error) stays empty.
std::filesystem::path Absolute(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute;
}

bool IsHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view port = text.substr(colon + 1);
  int n = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  return ec == std::errc() && end == port.data() + port.size() && n >= 0 && n <= 65535;
}

}  // namespace

bool IsLoopbackListen(std::string_view listen) {
  const std::string_view host = listen.substr(0, listen.rfind(':'));
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

namespace {

// Normalizes archive.url to file:///absolute or s3://bucket[/prefix]; empty on error.
std::string NormalizeArchiveUrl(Typer& typer, const std::string& url, const std::string& data_dir) {
  const RawValue raw = typer.Get("archive.url");
  if (url.empty()) {
    return "file://" + (Absolute(data_dir) / "archive").lexically_normal().string();
  }
  if (url.starts_with("s3://")) {
    const std::string rest = url.substr(5);
    if (rest.find('@') != std::string::npos) {
      typer.Fail("archive.url", RawValue{.text = "s3://***", .origin = raw.origin},
                 "credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and "
                 "AWS_SECRET_ACCESS_KEY instead");
      return {};
    }
    const std::string bucket = rest.substr(0, rest.find('/'));
    if (!IsBucketName(bucket)) {
      typer.Fail("archive.url", raw,
                 "expected s3://bucket/prefix with a bucket name of 3 to 63 lower-case "
                 "letters, digits, dots or hyphens");
      return {};
    }
    return url;
  }
  std::string path = url;
  if (url.starts_with("file://")) {
    path = url.substr(7);
  } else if (url.find("://") != std::string::npos) {
    typer.Fail("archive.url", raw, "expected file:///path or s3://bucket/prefix");
    return {};
  }
  if (path.empty()) {
    typer.Fail("archive.url", raw, "expected a directory after file://");
    return {};
  }
  return "file://" + Absolute(path).lexically_normal().string();
}

void ReadSource(Typer& t, Config& c) {
  c.source.url = t.String("source.url");
  c.source.slot = t.String("source.slot");
  if (!IsSlotName(c.source.slot)) {
    t.Fail("source.slot", t.Get("source.slot"),
           "expected 1 to 63 lower-case letters, digits or underscores (PostgreSQL's rule "
           "for slot names)");
  }
  c.source.publication = t.String("source.publication");
  if (c.source.publication.empty() || c.source.publication.size() > 63) {
    t.Fail("source.publication", t.Get("source.publication"), "expected 1 to 63 bytes");
  }
  for (const std::string& text : t.List("source.tables")) {
    auto selector = ParseTableSelector(text);
    if (!selector) {
      t.Fail("source.tables", t.Get("source.tables"), selector.error().message);
      break;
    }
    c.source.tables.push_back(*selector);
  }
  c.source.failover = t.Bool("source.failover");
  c.source.binary = t.Bool("source.binary");
  c.source.memory_limit = t.Size("source.memory_limit");
  c.source.lag_warn_bytes = t.Size("source.lag_warn");
  c.source.status_interval = t.DurationValue("source.status_interval");
  c.source.receive_timeout = t.DurationValue("source.receive_timeout");
  if (ConninfoHasPassword(c.source.url)) {
    c.warnings.push_back(
        "source.url contains a password; prefer PGPASSWORD or ~/.pgpass so it stays out of "
        "files and process listings");
  }
}

void ReadArchive(Typer& t, Config& c) {
  c.archive.url = NormalizeArchiveUrl(t, t.String("archive.url"), c.data_dir);
  c.archive.endpoint = t.String("archive.endpoint");
  if (!c.archive.endpoint.empty() && !c.archive.endpoint.starts_with("http://") &&
      !c.archive.endpoint.starts_with("https://")) {
    t.Fail("archive.endpoint", t.Get("archive.endpoint"),
           "expected http://host:port or https://host");
  }
  c.archive.region = t.String("archive.region");
  const std::string addressing = t.Enum("archive.addressing");
  c.archive.addressing = addressing == "path"      ? Addressing::kPath
                         : addressing == "virtual" ? Addressing::kVirtual
                                                   : Addressing::kAuto;
  c.archive.flush_interval = t.DurationValue("archive.flush_interval");
  c.archive.flush_size = t.Size("archive.flush_size");
  c.archive.spool_memory_limit = t.Size("archive.spool_memory_limit");
  c.archive.compact_target_size = t.Size("archive.compact_target_size");
  c.archive.orphan_grace = t.DurationValue("archive.orphan_grace");
}

void ReadRest(Typer& t, Config& c) {
  c.mirror.path = t.String("mirror.path");
  if (c.mirror.path.empty()) {
    c.mirror.path = (std::filesystem::path(c.data_dir) / "mirror.duckdb").lexically_normal();
  } else {
    c.mirror.path = Absolute(c.mirror.path).lexically_normal();
  }
  c.mirror.apply_interval = t.DurationValue("mirror.apply_interval");
  c.mirror.memory_limit = t.Size("mirror.memory_limit");
  const std::string mode = t.Enum("snapshot.mode");
  c.snapshot.mode = mode == "online"  ? SnapshotMode::kOnline
                    : mode == "never" ? SnapshotMode::kNever
                                      : SnapshotMode::kInitial;
  c.snapshot.workers = static_cast<int>(t.Integer("snapshot.workers"));
  c.snapshot.chunk_rows = t.Integer("snapshot.chunk_rows");
  c.server_listen = t.String("server.listen");
  if (!IsHostPort(c.server_listen)) {
    t.Fail("server.listen", t.Get("server.listen"), "expected host:port, e.g. 127.0.0.1:8080");
  }
  c.server_token = t.String("server.token");
  c.server_public_name = t.String("server.public_name");
  c.server_max_feed_clients = static_cast<int>(t.Integer("server.max_feed_clients"));
  if (!c.server_token.empty() && c.server_token.size() < 16) {
    t.Fail("server.token", t.Get("server.token"),
           "at least 16 characters; generate one with `openssl rand -hex 24`");
  } else if (c.server_token.empty() && !IsLoopbackListen(c.server_listen)) {
    t.Fail("server.listen", t.Get("server.listen"),
           "reachable from other machines: set server.token (WALDEN_SERVER_TOKEN) so that only "
           "clients holding it are served, or listen on 127.0.0.1");
  }
  c.mirror.export_dir = t.String("mirror.export_dir");
  if (c.mirror.export_dir.empty()) {
    c.mirror.export_dir = (std::filesystem::path(c.data_dir) / "exports").lexically_normal();
  } else {
    c.mirror.export_dir = Absolute(c.mirror.export_dir).lexically_normal();
  }
  c.topics.maintenance_interval = t.DurationValue("topics.maintenance_interval");
  c.query.price_per_1000_requests = t.Number("query.price_per_1000_requests");
  c.query.price_per_gb = t.Number("query.price_per_gb");
  c.query.timeout = t.DurationValue("query.timeout");
  c.query.max_result = t.Size("query.max_result");
  c.query.cache_size = t.Size("query.cache_size");
  c.canary.interval = t.DurationValue("canary.interval");
  c.canary.stale_after = t.DurationValue("canary.stale_after");
  if (c.canary.stale_after < 2 * c.canary.interval) {
    t.Fail("canary.stale_after", t.Get("canary.stale_after"),
           "expected at least twice canary.interval (" + FormatDuration(c.canary.interval) +
               "), or every heartbeat would look late");
  }
  if (!t.String("verify.interval").empty()) c.verify.interval = t.DurationValue("verify.interval");
  c.verify.archive = t.Bool("verify.archive");
  c.log_level = t.Enum("log.level");
  c.log_format = t.Enum("log.format");
}

}  // namespace

Result<Config> LoadConfig(const ConfigSources& sources) {
  RawConfig raw;
  if (sources.file) {
    std::error_code ec;
    if (std::filesystem::is_directory(*sources.file, ec)) {
      return Fail(ErrorKind::kConfig,
                  "config: " + *sources.file + " is a directory; pass a TOML file with --config");
    }
    std::ifstream in(*sources.file);
    if (!in) {
      return Fail(ErrorKind::kConfig, "config: cannot read " + *sources.file + ": " +
                                          std::strerror(errno) +
                                          "; pass an existing file with --config");
    }
    std::stringstream text;
    text << in.rdbuf();
    auto file_raw = ReadToml(text.str(), *sources.file);
    if (!file_raw) return std::unexpected(file_raw.error());
    raw = std::move(*file_raw);
  }
  if (auto ok = ApplyEnvironment(sources.environment, raw); !ok) {
    return std::unexpected(ok.error());
  }
  for (const auto& [path, value] : sources.flags) {
    const ConfigKey* key = FindConfigKey(path);
    if (!key) return UnknownKey("key", path, "flag", AllKeyPaths());
    raw[path] = RawValue{.text = value, .origin = "flag " + key->FlagName()};
  }
  Typer typer(raw);
  Config config;
  config.data_dir = typer.String("data_dir");
  if (config.data_dir.empty()) typer.Fail("data_dir", typer.Get("data_dir"), "expected a path");
  // Absolute from here on: the mirror's contained DuckDB accepts only absolute paths inside
  // its allowed directories, and messages name one place whatever the working directory.
  if (!config.data_dir.empty()) config.data_dir = Absolute(config.data_dir).lexically_normal();
  ReadSource(typer, config);
  ReadArchive(typer, config);
  ReadRest(typer, config);
  if (typer.error()) return std::unexpected(*typer.error());
  return config;
}

}  // namespace walden
