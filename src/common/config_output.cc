// Printing the effective configuration, and reading WALDEN_* variables.
#include <toml++/toml.h>

#include <sstream>

#include "common/config.h"
#include "common/redact.h"

extern char** environ;

namespace walden {

std::map<std::string, std::string> WaldenEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with("WALDEN_")) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

std::string Config::ToToml() const {
  toml::table source_table{{"url", RedactConninfo(this->source.url)},
                           {"slot", this->source.slot},
                           {"publication", this->source.publication}};
  toml::array tables;
  for (const TableSelector& selector : this->source.tables) tables.push_back(selector.Display());
  source_table.insert("tables", tables);
  source_table.insert("failover", this->source.failover);
  source_table.insert("binary", this->source.binary);
  source_table.insert("memory_limit", FormatSize(this->source.memory_limit));
  source_table.insert("lag_warn", FormatSize(this->source.lag_warn_bytes));
  source_table.insert("status_interval", FormatDuration(this->source.status_interval));
  source_table.insert("receive_timeout", FormatDuration(this->source.receive_timeout));
  static constexpr std::string_view kAddressing[] = {"auto", "path", "virtual"};
  toml::table archive_table{{"url", this->archive.url},
                            {"endpoint", this->archive.endpoint},
                            {"region", this->archive.region},
                            {"addressing", kAddressing[static_cast<int>(this->archive.addressing)]},
                            {"flush_interval", FormatDuration(this->archive.flush_interval)},
                            {"flush_size", FormatSize(this->archive.flush_size)},
                            {"spool_memory_limit", FormatSize(this->archive.spool_memory_limit)},
                            {"compact_target_size", FormatSize(this->archive.compact_target_size)},
                            {"orphan_grace", FormatDuration(this->archive.orphan_grace)}};
  static constexpr std::string_view kModes[] = {"initial", "online", "never"};
  toml::table root{{"data_dir", data_dir},
                   {"source", source_table},
                   {"archive", archive_table},
                   {"mirror", toml::table{{"path", mirror.path},
                                          {"export_dir", mirror.export_dir},
                                          {"apply_interval", FormatDuration(mirror.apply_interval)},
                                          {"memory_limit", FormatSize(mirror.memory_limit)}}},
                   {"snapshot", toml::table{{"mode", kModes[static_cast<int>(snapshot.mode)]},
                                            {"workers", snapshot.workers},
                                            {"chunk_rows", snapshot.chunk_rows}}},
                   {"server", toml::table{{"listen", server_listen},
                                          {"token", server_token.empty() ? "" : "********"},
                                          {"public_name", server_public_name}}},
                   {"canary", toml::table{{"interval", FormatDuration(canary.interval)},
                                          {"stale_after", FormatDuration(canary.stale_after)}}},
                   {"query", toml::table{{"price_per_1000_requests", query.price_per_1000_requests},
                                         {"price_per_gb", query.price_per_gb},
                                         {"timeout", FormatDuration(query.timeout)},
                                         {"max_result", FormatSize(query.max_result)}}},
                   {"topics", toml::table{{"maintenance_interval",
                                           FormatDuration(topics.maintenance_interval)}}},
                   {"log", toml::table{{"level", log_level}, {"format", log_format}}}};
  std::ostringstream out;
  out << root << "\n";
  return out.str();
}

}  // namespace walden
