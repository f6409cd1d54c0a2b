#include "archive/manifest.h"

#include <fmt/core.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/units.h"

namespace walden::archive {
namespace {

using json = nlohmann::json;

constexpr std::string_view kCommitPrefix = "_walden/commits/";
constexpr std::string_view kLeaseKey = "_walden/lease.json";

std::string Hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

json FileJson(const SegmentFile& f) {
  json out = {{"key", f.key},
              {"schema", f.table.schema},
              {"table", f.table.name},
              {"schema_version", f.schema_version},
              {"day", f.day},
              {"rows", f.rows},
              {"bytes", f.bytes},
              {"sha256", f.sha256},
              {"min_commit_lsn", Lsn{f.first_lsn}.ToString()},
              {"max_commit_lsn", Lsn{f.last_lsn}.ToString()},
              {"min_commit_time", f.min_commit_time},
              {"max_commit_time", f.max_commit_time}};
  if (f.key_range) {
    out["key_range"] = {{"column", f.key_range->column},
                        {"numeric", f.key_range->numeric},
                        {"min", f.key_range->min},
                        {"max", f.key_range->max}};
  }
  if (!f.row_groups.empty()) {
    json groups = json::array();
    for (const RowGroupPart& g : f.row_groups) {
      groups.push_back({{"offset", g.offset},
                        {"length", g.length},
                        {"rows", g.rows},
                        {"min_commit_time", g.min_commit_time},
                        {"max_commit_time", g.max_commit_time},
                        {"min_commit_lsn", Lsn{g.min_lsn}.ToString()},
                        {"max_commit_lsn", Lsn{g.max_lsn}.ToString()},
                        {"sha256", g.sha256}});
      if (!g.key_min.empty()) {
        groups.back()["key_min"] = g.key_min;
        groups.back()["key_max"] = g.key_max;
      }
    }
    out["row_groups"] = std::move(groups);
    out["footer_sha256"] = f.footer_sha256;
  }
  return out;
}

std::vector<RowGroupPart> RowGroupsFromJson(const json& j) {
  std::vector<RowGroupPart> groups;
  if (!j.contains("row_groups")) return groups;
  for (const json& g : j.at("row_groups")) {
    groups.push_back(
        {.offset = g.at("offset").get<int64_t>(),
         .length = g.at("length").get<int64_t>(),
         .rows = g.at("rows").get<int64_t>(),
         .min_commit_time = g.at("min_commit_time").get<int64_t>(),
         .max_commit_time = g.at("max_commit_time").get<int64_t>(),
         .min_lsn = Lsn::Parse(g.at("min_commit_lsn").get<std::string>()).value().value,
         .max_lsn = Lsn::Parse(g.at("max_commit_lsn").get<std::string>()).value().value,
         .key_min = g.value("key_min", std::string()),
         .key_max = g.value("key_max", std::string()),
         .sha256 = g.at("sha256").get<std::string>()});
  }
  return groups;
}

std::optional<KeyRange> KeyRangeFromJson(const json& j) {
  if (!j.contains("key_range") || !j.at("key_range").is_object()) return std::nullopt;
  const json& r = j.at("key_range");
  return KeyRange{.column = r.value("column", std::string()),
                  .numeric = r.value("numeric", false),
                  .min = r.value("min", std::string()),
                  .max = r.value("max", std::string())};
}

SegmentFile FileFromJson(const json& j) {
  return SegmentFile{
      .table = {j.at("schema").get<std::string>(), j.at("table").get<std::string>()},
      .key_range = KeyRangeFromJson(j),
      .schema_version = j.at("schema_version").get<int>(),
      .day = j.at("day").get<std::string>(),
      .first_lsn = Lsn::Parse(j.at("min_commit_lsn").get<std::string>()).value().value,
      .last_lsn = Lsn::Parse(j.at("max_commit_lsn").get<std::string>()).value().value,
      .rows = j.at("rows").get<int64_t>(),
      .bytes = j.at("bytes").get<int64_t>(),
      .min_commit_time = j.at("min_commit_time").get<int64_t>(),
      .max_commit_time = j.at("max_commit_time").get<int64_t>(),
      .key = j.at("key").get<std::string>(),
      .sha256 = j.value("sha256", std::string()),
      .row_groups = RowGroupsFromJson(j),
      .footer_sha256 = j.value("footer_sha256", std::string())};
}

}  // namespace

std::string Manifest::CommitKey(uint64_t sequence) {
  return fmt::format("{}{:020d}.json", kCommitPrefix, sequence);
}

std::string Manifest::ToJson(const ManifestCommit& commit) {
  json added = json::array();
  for (const SegmentFile& f : commit.added) added.push_back(FileJson(f));
  const json out = {{"format", 1},
                    {"sequence", commit.sequence},
                    {"created_at", commit.created_at},
                    {"watermark",
                     {{"commit_lsn", commit.watermark.commit_lsn.ToString()},
                      {"end_lsn", commit.watermark.end_lsn.ToString()}}},
                    {"added", added},
                    {"removed", commit.removed}};
  return out.dump(1);
}

Result<ManifestCommit> Manifest::FromJson(std::string_view text, std::string_view key) {
  try {
    const json j = json::parse(text);
    ManifestCommit commit;
    commit.sequence = j.at("sequence").get<uint64_t>();
    commit.created_at = j.at("created_at").get<int64_t>();
    commit.watermark = {Lsn::Parse(j.at("watermark").at("commit_lsn").get<std::string>()).value(),
                        Lsn::Parse(j.at("watermark").at("end_lsn").get<std::string>()).value()};
    for (const json& f : j.at("added")) commit.added.push_back(FileFromJson(f));
    commit.removed = j.at("removed").get<std::vector<std::string>>();
    return commit;
  } catch (const std::exception& e) {
    return Fail(ErrorKind::kIo, fmt::format("manifest commit {} is unreadable ({}); the archive "
                                            "is damaged: restore the object from a backup",
                                            key, e.what()));
  }
}

namespace {

// Text that ends before its JSON does: what a write cut short leaves (not other damage).
bool CutShort(const std::string& text) {
  try {
    return json::parse(text).is_discarded();  // parsed: not cut short
  } catch (const json::parse_error& e) {
    return e.byte >= text.size();
  }
}

}  // namespace

Result<ArchiveState> Manifest::Load() {
  auto objects = store_.List(kCommitPrefix);
  if (!objects) return std::unexpected(objects.error());
  ArchiveState state;
  for (const store::ObjectInfo& object : *objects) {
    auto text = store_.Get(object.key);
    if (!text) return std::unexpected(text.error());
    auto commit = FromJson(*text, object.key);
    if (!commit && &object == &objects->back() && CutShort(*text)) {
      spdlog::warn(
          "archive: manifest commit {} holds only the start of a commit (a write cut short by a "
          "crash); it is not part of the archive and the next commit replaces it",
          object.key);
      state.cut_short = object.key;
      break;
    }
    if (!commit) return std::unexpected(commit.error());
    if (commit->sequence != state.last_sequence + 1 || CommitKey(commit->sequence) != object.key) {
      return Fail(ErrorKind::kIo, fmt::format("manifest commit {} is out of sequence (expected "
                                              "{}); the archive is damaged",
                                              object.key, state.last_sequence + 1));
    }
    for (const std::string& key : commit->removed) {
      state.live.erase(key);
      state.retired.insert(key);
    }
    // A commit's watermark is its last transaction: never behind the one before it, never
    // behind a change its files hold. Anything else was edited and would skip changes.
    if (commit->watermark.commit_lsn < state.watermark.commit_lsn) {
      return Fail(ErrorKind::kIo,
                  fmt::format("manifest commit {} moves the watermark back from {} to {}; the "
                              "archive is damaged: restore _walden/commits/ from a backup, then "
                              "run `walden archive verify`",
                              object.key, state.watermark.commit_lsn.ToString(),
                              commit->watermark.commit_lsn.ToString()));
    }
    for (SegmentFile& file : commit->added) {
      if (Lsn{file.last_lsn} > commit->watermark.commit_lsn) {
        return Fail(ErrorKind::kIo,
                    fmt::format("manifest commit {} names {} with changes up to {}, past its "
                                "watermark {}; the archive is damaged: restore _walden/commits/ "
                                "from a backup, then run `walden archive verify`",
                                object.key, file.key, Lsn{file.last_lsn}.ToString(),
                                commit->watermark.commit_lsn.ToString()));
      }
      state.live[file.key] = std::move(file);
    }
    state.last_sequence = commit->sequence;
    state.watermark = commit->watermark;
  }
  return state;
}

namespace {

// The same changes to the archive: watermark, files added (by key and checksum), removed.
bool SameCommit(const ManifestCommit& a, const ManifestCommit& b) {
  if (a.watermark.commit_lsn != b.watermark.commit_lsn || a.removed != b.removed ||
      a.added.size() != b.added.size()) {
    return false;
  }
  for (size_t i = 0; i < a.added.size(); ++i) {
    if (a.added[i].key != b.added[i].key || a.added[i].sha256 != b.added[i].sha256) return false;
  }
  return true;
}

}  // namespace

Status Manifest::Commit(ArchiveState& state, const Watermark& watermark,
                        std::vector<SegmentFile> added, std::vector<std::string> removed) {
  ManifestCommit commit{.sequence = state.last_sequence + 1,
                        .watermark = watermark,
                        .added = std::move(added),
                        .removed = std::move(removed),
                        .created_at = UnixNowMicros()};
  const std::string key = CommitKey(commit.sequence);
  // Object stores have no compare-and-swap everywhere; the lease keeps writers apart, and
  // this check turns a lost lease into an error instead of a silently replaced commit.
  if (auto existing = store_.Get(key); existing) {
    // A PUT whose answer was lost (the store went away mid-request) may have landed: our own
    // commit, tried again, is done. Or only its start landed (a store that shows objects
    // while they arrive): never part of the archive, written again. Anything else is
    // another writer's.
    auto theirs = FromJson(*existing, key);
    if (!theirs && CutShort(*existing)) {
      if (key != state.cut_short) {
        spdlog::warn(
            "archive: manifest commit {} holds only the start of a commit (a write cut "
            "short when the store went away); writing it again",
            key);
      }
      if (auto ok = store_.Put(key, ToJson(commit)); !ok) return ok;
    } else if (!theirs || !SameCommit(*theirs, commit)) {
      return Fail(ErrorKind::kIo,
                  "manifest commit " + key + " already exists: another walden writes this archive");
    }
  } else if (existing.error().kind != ErrorKind::kNotFound) {
    return std::unexpected(existing.error());
  } else if (auto ok = store_.Put(key, ToJson(commit)); !ok) {
    return ok;
  }
  for (const std::string& removed_key : commit.removed) {
    state.live.erase(removed_key);
    state.retired.insert(removed_key);
  }
  for (SegmentFile& file : commit.added) {
    file.local_path.clear();
    state.live[file.key] = std::move(file);
  }
  state.last_sequence = commit.sequence;
  state.watermark = watermark;
  state.cut_short.clear();
  return {};
}

Status Manifest::AcquireLease(const std::string& owner, std::chrono::seconds ttl) {
  auto current = store_.Get(kLeaseKey);
  if (current) {
    const json lease = json::parse(*current, nullptr, /*allow_exceptions=*/false);
    // A holder on this host whose process is gone (kill -9) does not need to expire.
    const bool holder_dead = !lease.is_discarded() && lease.value("host", "") == Hostname() &&
                             kill(lease.value("pid", 0), 0) != 0 && errno == ESRCH;
    if (!lease.is_discarded() && lease.value("owner", "") != owner && !holder_dead &&
        lease.value("expires_at", int64_t{0}) > UnixNowMicros()) {
      return Fail(
          ErrorKind::kPermission,
          fmt::format("archive {} is in use by another walden (host {}, pid {}); stop "
                      "it, or wait {} s for its lease to expire",
                      store_.url(), lease.value("host", "?"), lease.value("pid", 0),
                      (lease.value("expires_at", int64_t{0}) - UnixNowMicros()) / 1000000 + 1));
    }
  } else if (current.error().kind != ErrorKind::kNotFound) {
    return std::unexpected(current.error());
  }
  const json lease = {{"owner", owner},
                      {"host", Hostname()},
                      {"pid", getpid()},
                      {"expires_at", UnixNowMicros() + ttl.count() * 1000000}};
  return store_.Put(kLeaseKey, lease.dump());
}

Status Manifest::ReleaseLease(const std::string& owner) {
  auto current = store_.Get(kLeaseKey);
  if (!current) return {};
  const json lease = json::parse(*current, nullptr, false);
  if (!lease.is_discarded() && lease.value("owner", "") == owner) return store_.Delete(kLeaseKey);
  return {};
}

}  // namespace walden::archive
