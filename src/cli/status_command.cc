#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "archive/manifest.h"
#include "cli/commands.h"
#include "common/strings.h"
#include "common/units.h"
#include "duck/duckdb.h"
#include "pipeline/runner.h"
#include "server/http_server.h"
#include "store/object_store.h"

namespace walden::cli {
namespace {

using nlohmann::json;

std::string Or(const json& j, const char* key, const char* fallback = "-") {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const std::string text = j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  return text.empty() ? fallback : text;
}

void PrintTables(const json& tables) {
  fmt::print("\n{:<36} {:<16} {:>7} {:>10} {:>10} {:>10} {:>9}\n", "table", "state", "version",
             "inserts", "updates", "deletes", "truncates");
  for (const json& t : tables) {
    const json& rows = t["rows"];
    fmt::print("{:<36} {:<16} {:>7} {:>10} {:>10} {:>10} {:>9}\n", Or(t, "table"), Or(t, "state"),
               Or(t, "schema_version"), Or(rows, "insert"), Or(rows, "update"), Or(rows, "delete"),
               Or(rows, "truncate"));
    if (!Or(t, "reason", "").empty()) fmt::print("    {}\n", Or(t, "reason"));
  }
}

void PrintTopics(const json& topics) {
  if (topics.empty()) return;
  fmt::print("\n{:<28} {:>10} {:>12} {:>12} {:>12} {:>8}  {}\n", "topic", "partitions", "messages",
             "postgres", "archive", "expired", "group lag");
  for (const json& t : topics) {
    std::string lag;
    for (const auto& [group, value] : t.value("group_lag", json::object()).items()) {
      lag += (lag.empty() ? "" : ", ") + group + " " + value.dump();
    }
    fmt::print("{:<28} {:>10} {:>12} {:>12} {:>12} {:>8}  {}\n", Or(t, "topic"),
               Or(t, "partitions"), Or(t, "messages"), FormatSize(t.value("hot_bytes", 0)),
               FormatSize(t.value("archived_bytes", 0)), Or(t, "expired_partitions"),
               lag.empty() ? "-" : lag);
  }
}

void PrintRunning(const json& s, const std::string& address) {
  const json& slot = s["slot"];
  fmt::print("walden is running (http://{}), up since {}\n", address, Or(s, "started_at"));
  fmt::print("slot {}: received {}, confirmed {}, lag {} bytes\n", Or(slot, "name"),
             Or(slot, "received_lsn"), Or(slot, "confirmed_lsn"), Or(slot, "lag_bytes"));
  fmt::print("archive: watermark {}, {} commits, last flush {}\n", Or(s["archive"], "watermark"),
             Or(s["archive"], "commits"), Or(s["archive"], "last_flush"));
  fmt::print("mirror: watermark {}, last merge {}\n", Or(s["mirror"], "watermark"),
             Or(s["mirror"], "last_merge"));
  const json& canary = s["canary"];
  if (canary.value("enabled", false)) {
    fmt::print(
        "canary: {}, heartbeat age {:.1f} s in the mirror, {:.1f} s in the archive\n",
        canary.value("fresh", false) ? "fresh" : "STALE, stuck at the " + Or(canary, "stuck"),
        canary.value("mirror_age_s", -1.0), canary.value("archive_age_s", -1.0));
  }
  const json& verify = s.value("verify", json::object());
  const json& chunks = verify.value("chunks", json::object());
  if (!chunks.empty()) {
    fmt::print("verify: {} chunks equal, {} different since start; last clean verify {}",
               chunks.value("equal", 0), chunks.value("different", 0), Or(verify, "last_success"));
    const auto different = verify.value("different_tables", std::vector<std::string>{});
    if (!different.empty()) {
      fmt::print("; DIFFERENT: {} (`walden verify --repair`)", Join(different, ", "));
    }
    fmt::print("\n");
  }
  PrintTables(s["tables"]);
  PrintTopics(s.value("topics", json::array()));
}

// Not running: what the data directory and the archive say.
Result<json> OfflineStatus(const Config& config) {
  json out = {{"running", false}, {"tables", json::array()}};
  auto store = store::OpenStore(config.archive);
  if (!store) return std::unexpected(store.error());
  archive::Manifest manifest(**store);
  auto state = manifest.Load();
  if (!state) return std::unexpected(state.error());
  out["archive"] = {{"url", (*store)->url()},
                    {"watermark", state->watermark.commit_lsn.ToString()},
                    {"commits", state->last_sequence}};
  if (!std::filesystem::exists(config.mirror.path)) return out;
  auto db = duck::Database::Open(config.mirror.path, /*read_only=*/true);
  if (!db) return std::unexpected(db.error());
  auto conn = duck::Connection::Open(*db);
  if (!conn) return std::unexpected(conn.error());
  auto watermark =
      conn->Query("SELECT commit_lsn::VARCHAR, merged_at::VARCHAR FROM walden.state LIMIT 1");
  if (watermark && watermark->rows() == 1) {
    out["mirror"] = {
        {"path", config.mirror.path},
        {"watermark", Lsn{ParseUint64(watermark->Text(0, 0).value_or("0")).value_or(0)}.ToString()},
        {"last_merge", watermark->Text(0, 1).value_or("")}};
  }
  auto tables = conn->Query(
      "SELECT schema_name, table_name, state, reason, version::VARCHAR, inserts::VARCHAR, "
      "updates::VARCHAR, deletes::VARCHAR, truncates::VARCHAR FROM walden.tables ORDER BY 1, 2");
  if (!tables) return std::unexpected(tables.error());
  for (size_t r = 0; r < tables->rows(); ++r) {
    const QualifiedName name{tables->Text(r, 0).value_or(""), tables->Text(r, 1).value_or("")};
    out["tables"].push_back({{"table", name.Display()},
                             {"state", tables->Text(r, 2).value_or("")},
                             {"reason", tables->Text(r, 3).value_or("")},
                             {"schema_version", tables->Text(r, 4).value_or("")},
                             {"rows",
                              {{"insert", tables->Text(r, 5).value_or("")},
                               {"update", tables->Text(r, 6).value_or("")},
                               {"delete", tables->Text(r, 7).value_or("")},
                               {"truncate", tables->Text(r, 8).value_or("")}}}});
  }
  return out;
}

}  // namespace

int StatusCommand(const Config& config, bool as_json) {
  auto lock = pipeline::LockDataDir(config.data_dir);
  if (lock) {
    auto status = OfflineStatus(config);
    close(*lock);
    if (!status) return ReportError(status.error());
    if (as_json) {
      fmt::print("{}\n", status->dump(2));
      return 0;
    }
    fmt::print("walden is not running (data_dir {})\n", config.data_dir);
    fmt::print("archive {}: watermark {}, {} commits\n", Or((*status)["archive"], "url"),
               Or((*status)["archive"], "watermark"), Or((*status)["archive"], "commits"));
    if (status->contains("mirror")) {
      fmt::print("mirror {}: watermark {}, last merge {}\n", Or((*status)["mirror"], "path"),
                 Or((*status)["mirror"], "watermark"), Or((*status)["mirror"], "last_merge"));
    }
    PrintTables((*status)["tables"]);
    return 0;
  }
  if (lock.error().kind != ErrorKind::kUsage) return ReportError(lock.error());
  auto running = pipeline::RunningAddress(config.data_dir);
  if (!running) return ReportError(running.error());
  const std::string& address = *running;
  auto response = server::Get(address, "/api/status", config.server_token);
  if (!response) return ReportError(response.error());
  const json status = json::parse(response->body, nullptr, false);
  if (response->status != 200 || status.is_discarded()) {
    return ReportError(Error{ErrorKind::kProtocol,
                             "unexpected answer from walden: " + response->body.substr(0, 200)});
  }
  if (as_json) {
    fmt::print("{}", response->body);
    return 0;
  }
  PrintRunning(status, address);
  return 0;
}

}  // namespace walden::cli
