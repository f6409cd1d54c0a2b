#include "snapshot/job.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"

namespace walden::snapshot {
namespace {

using nlohmann::json;

json KeyJson(const std::optional<std::vector<std::string>>& key) {
  return key ? json(*key) : json(nullptr);
}

std::optional<std::vector<std::string>> KeyFrom(const json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::vector<std::string>>();
}

}  // namespace

int64_t TableJob::rows() const {
  int64_t total = 0;
  for (const Chunk& chunk : chunks) total += chunk.delivered ? chunk.rows : 0;
  return total;
}

uint64_t TableJob::last_delivery() const {
  uint64_t last = reset_at;
  for (const Chunk& chunk : chunks) last = std::max(last, chunk.delivered);
  return last;
}

TableJob* Job::Find(const QualifiedName& name) {
  for (TableJob& table : tables) {
    if (table.name == name) return &table;
  }
  return nullptr;
}

std::string JobToJson(const Job& job) {
  json tables = json::array();
  for (const TableJob& table : job.tables) {
    json chunks = json::array();
    for (const Chunk& chunk : table.chunks) {
      chunks.push_back({{"lo", KeyJson(chunk.lo)},
                        {"hi", KeyJson(chunk.hi)},
                        {"lo_page", chunk.lo_page},
                        {"hi_page", chunk.hi_page},
                        {"delivered", chunk.delivered},
                        {"rows", chunk.rows}});
    }
    tables.push_back({{"schema", table.name.schema},
                      {"name", table.name.name},
                      {"by_ctid", table.by_ctid},
                      {"reset", table.reset},
                      {"reset_at", table.reset_at},
                      {"planned", table.planned},
                      {"read_all", table.read_all},
                      {"estimated_rows", table.estimated_rows},
                      {"keys", table.keys},
                      {"chunks", chunks}});
  }
  return json{{"id", job.id},
              {"reason", job.reason},
              {"consistent_lsn", job.consistent_lsn},
              {"tables", tables}}
      .dump(1);
}

Result<Job> JobFromJson(std::string_view text) {
  try {
    const json in = json::parse(text);
    Job job{
        .id = in.at("id"), .reason = in.at("reason"), .consistent_lsn = in.at("consistent_lsn")};
    for (const json& t : in.at("tables")) {
      TableJob& table = job.tables.emplace_back();
      table.name = {t.at("schema"), t.at("name")};
      table.by_ctid = t.at("by_ctid");
      table.reset = t.at("reset");
      table.reset_at = t.at("reset_at");
      table.planned = t.at("planned");
      table.read_all = t.at("read_all");
      table.estimated_rows = t.at("estimated_rows");
      if (t.contains("keys"))
        table.keys = t.at("keys").get<std::vector<std::vector<std::string>>>();
      for (const json& c : t.at("chunks")) {
        table.chunks.push_back({.lo = KeyFrom(c.at("lo")),
                                .hi = KeyFrom(c.at("hi")),
                                .lo_page = c.at("lo_page"),
                                .hi_page = c.at("hi_page"),
                                .delivered = c.at("delivered"),
                                .rows = c.at("rows")});
      }
    }
    return job;
  } catch (const json::exception& e) {
    return Fail(ErrorKind::kIo, std::string("snapshot job file is damaged: ") + e.what());
  }
}

Result<std::optional<Job>> LoadJob(const std::string& path) {
  std::ifstream file(path);
  if (!file) return std::optional<Job>();
  std::stringstream text;
  text << file.rdbuf();
  auto job = JobFromJson(text.str());
  if (!job) {
    return Fail(ErrorKind::kIo, path + ": " + job.error().message +
                                    "; delete it and run `walden snapshot --all` to start over");
  }
  return std::optional<Job>(std::move(*job));
}

Status SaveJob(const std::string& path, const Job& job) {
  return WriteFileAtomically(path, JobToJson(job));
}

void Reconcile(Job& job, Lsn durable) {
  for (TableJob& table : job.tables) {
    if (table.reset_at > durable.value) {
      table.reset_at = 0;
      for (Chunk& chunk : table.chunks) chunk.delivered = 0;
    }
    size_t kept = 0;
    bool lost = false;
    for (Chunk& chunk : table.chunks) {
      if (chunk.delivered > durable.value) chunk.delivered = 0;
      if (chunk.delivered == 0) lost = true;
      if (!lost) ++kept;
    }
    if (!lost) continue;
    table.read_all = false;
    if (table.by_ctid) {
      // Rows the stream added since cannot be told apart from the chunk's: start over.
      table.reset = true;
      table.reset_at = 0;
      table.planned = false;
      table.chunks.clear();
    } else if (!table.planned) {
      table.chunks.resize(kept + 1);  // the next online chunk starts after the last key kept
      table.chunks.back().hi.reset();
      table.chunks.back().rows = 0;
    }
  }
}

}  // namespace walden::snapshot
