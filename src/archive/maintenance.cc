#include "archive/maintenance.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/checksum.h"
#include "common/units.h"
#include "duck/duckdb.h"

namespace walden::archive {
namespace {

namespace fs = std::filesystem;

// Consecutive files (in LSN order) of one table-day, up to the target size.
std::vector<std::vector<const SegmentFile*>> Groups(const ArchiveState& state,
                                                    int64_t target_bytes) {
  std::map<std::pair<std::string, std::string>, std::vector<const SegmentFile*>> by_day;
  for (const auto& [key, file] : state.live) {
    by_day[{file.table.ToSql(), file.day}].push_back(&file);
  }
  std::vector<std::vector<const SegmentFile*>> groups;
  for (auto& [table_day, files] : by_day) {
    std::sort(files.begin(), files.end(), [](const SegmentFile* a, const SegmentFile* b) {
      return a->first_lsn < b->first_lsn;
    });
    std::vector<const SegmentFile*> current;
    int64_t bytes = 0;
    for (const SegmentFile* file : files) {
      if (!current.empty() && bytes + file->bytes > target_bytes) {
        if (current.size() > 1) groups.push_back(current);
        current.clear();
        bytes = 0;
      }
      current.push_back(file);
      bytes += file->bytes;
    }
    if (current.size() > 1) groups.push_back(current);
  }
  return groups;
}

// The key range of two files together; none when either has none or they differ in kind.
std::optional<KeyRange> MergedRange(const std::optional<KeyRange>& a,
                                    const std::optional<KeyRange>& b) {
  if (!a || !b || a->column != b->column || a->numeric != b->numeric) return std::nullopt;
  const auto less = [&](const std::string& x, const std::string& y) {
    if (!a->numeric) return x < y;
    return std::stoll(x) < std::stoll(y);
  };
  KeyRange out = *a;
  if (less(b->min, out.min)) out.min = b->min;
  if (less(out.max, b->max)) out.max = b->max;
  return out;
}

Result<SegmentFile> Merge(store::ObjectStore& store, duck::Connection& conn,
                          const std::vector<const SegmentFile*>& group, const std::string& dir) {
  std::vector<std::string> inputs;
  int with_rows = 0;
  SegmentFile merged = *group.front();
  merged.key_range.reset();
  merged.rows = 0;
  merged.min_commit_time = INT64_MAX;
  merged.max_commit_time = INT64_MIN;
  for (const SegmentFile* file : group) {
    auto data = store.Get(file->key);
    if (!data) return std::unexpected(data.error());
    const std::string path = fmt::format("{}/in-{}.parquet", dir, inputs.size());
    std::ofstream(path, std::ios::binary).write(data->data(), static_cast<long>(data->size()));
    inputs.push_back(QuoteLiteral(path));
    merged.rows += file->rows;
    merged.schema_version = std::max(merged.schema_version, file->schema_version);
    merged.min_commit_time = std::min(merged.min_commit_time, file->min_commit_time);
    merged.max_commit_time = std::max(merged.max_commit_time, file->max_commit_time);
    // A file without rows (an empty table's initial load) holds no key.
    if (file->rows > 0) {
      merged.key_range =
          ++with_rows == 1 ? file->key_range : MergedRange(merged.key_range, file->key_range);
    }
  }
  merged.first_lsn = group.front()->first_lsn;
  merged.last_lsn = group.back()->last_lsn;
  merged.key = SegmentKey(merged.table, merged.day, merged.first_lsn, merged.last_lsn);
  merged.local_path = dir + "/merged.parquet";
  std::string list;
  for (const std::string& input : inputs) list += (list.empty() ? "" : ", ") + input;
  auto copied = conn.Execute("COPY (SELECT * FROM read_parquet([" + list +
                             "], union_by_name = true) ORDER BY _walden_lsn, _walden_seq) TO " +
                             QuoteLiteral(merged.local_path) +
                             " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)");
  if (!copied) return std::unexpected(copied.error());
  if (auto ok = Fingerprint(conn, merged); !ok) return std::unexpected(ok.error());
  if (auto uploaded = store.PutFile(merged.key, merged.local_path); !uploaded) {
    return std::unexpected(uploaded.error());
  }
  return merged;
}

}  // namespace

Result<OrphanReport> CollectOrphans(store::ObjectStore& store, const ArchiveState& state,
                                    std::chrono::microseconds grace) {
  auto objects = store.List("tables/");
  if (!objects) return std::unexpected(objects.error());
  OrphanReport report;
  const int64_t cutoff = UnixNowMicros() - grace.count();
  for (const store::ObjectInfo& object : *objects) {
    if (state.live.contains(object.key)) continue;
    if (object.modified_us > cutoff) {
      report.too_young.push_back(object.key);
      continue;
    }
    if (!state.retired.contains(object.key)) {
      auto data = store.Get(object.key);
      if (!data) return std::unexpected(data.error());
      const std::string kept = std::string(kQuarantinePrefix) + object.key;
      if (auto ok = store.Put(kept, *data); !ok) return std::unexpected(ok.error());
      report.quarantined.push_back(object.key);
    } else {
      report.deleted.push_back(object.key);
    }
    if (auto ok = store.Delete(object.key); !ok) return std::unexpected(ok.error());
  }
  return report;
}

Result<CompactionReport> Compact(store::ObjectStore& store, Manifest& manifest, ArchiveState& state,
                                 const CompactionOptions& options) {
  CompactionReport report;
  const auto groups = Groups(state, options.target_bytes);
  if (groups.empty()) return report;
  auto db = duck::Database::Open(":memory:");
  if (!db) return std::unexpected(db.error());
  auto conn = duck::Connection::Open(*db);
  if (!conn) return std::unexpected(conn.error());
  if (auto ok = conn->Execute("SET TimeZone = 'UTC'"); !ok) return std::unexpected(ok.error());
  std::vector<SegmentFile> added;
  std::vector<std::string> removed;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string dir = fmt::format("{}/compact-{}", options.work_dir, g);
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    if (ec) return Fail(ErrorKind::kIo, "cannot create " + dir + ": " + ec.message());
    auto merged = Merge(store, *conn, groups[g], dir);
    if (!merged) return std::unexpected(merged.error());
    for (const SegmentFile* file : groups[g]) {
      removed.push_back(file->key);
      report.bytes_in += file->bytes;
      ++report.files_in;
    }
    report.bytes_out += merged->bytes;
    ++report.files_out;
    added.push_back(std::move(*merged));
    fs::remove_all(dir, ec);
  }
  if (auto ok = manifest.Commit(state, state.watermark, std::move(added), removed); !ok) {
    return std::unexpected(ok.error());
  }
  // Replaced files are unreferenced now; deleting them at once keeps plain glob readers from
  // seeing a change twice. A reader that listed them a moment ago retries.
  for (const std::string& key : removed) {
    if (auto ok = store.Delete(key); !ok) return std::unexpected(ok.error());
  }
  return report;
}

Status CheckFile(const SegmentFile& file, const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const std::string recover =
      "; restore it from a backup of the bucket, or run `walden resync` to start the history "
      "over (walden archive verify lists every damaged file)";
  if (ec) return Fail(ErrorKind::kIo, "archive file " + file.key + " is missing" + recover);
  if (static_cast<int64_t>(size) != file.bytes) {
    return Fail(ErrorKind::kIo, fmt::format("archive file {} has {} bytes, its commit says {}{}",
                                            file.key, size, file.bytes, recover));
  }
  if (file.sha256.empty()) return {};
  std::vector<int64_t> starts;  // the row groups ranged reads fetch are checked in the same pass
  for (const RowGroupPart& group : file.row_groups) starts.push_back(group.offset);
  if (!file.row_groups.empty()) starts.push_back(file.FooterOffset());
  auto digests = Sha256OfFileParts(path, starts);
  if (!digests) return std::unexpected(digests.error());
  if (digests->front() != file.sha256) {
    return Fail(ErrorKind::kIo, "archive file " + file.key +
                                    " does not match the checksum its commit recorded (its bytes "
                                    "changed after it was written)" +
                                    recover);
  }
  for (size_t i = 1; i < digests->size(); ++i) {
    const bool footer = i == digests->size() - 1;
    if ((*digests)[i] != (footer ? file.footer_sha256 : file.row_groups[i - 1].sha256)) {
      return Fail(
          ErrorKind::kIo,
          fmt::format("archive file {} matches its checksum, but not the one its commit "
                      "recorded for {} (ranged reads of it are refused); this is a bug "
                      "in walden, please report it with that commit",
                      file.key, footer ? "its footer" : fmt::format("row group {}", i - 1)));
    }
  }
  return {};
}

Result<VerifyReport> Verify(store::ObjectStore& store, const ArchiveState& state,
                            const std::string& cache_dir) {
  VerifyReport report{.commits = state.last_sequence};
  for (const auto& [key, file] : state.live) {
    ++report.files;
    report.bytes += file.bytes;
    if (file.sha256.empty()) ++report.without_checksum;
    auto path = store::LocalPath(store, key, cache_dir);
    Status checked = path ? CheckFile(file, *path) : Status(std::unexpected(path.error()));
    if (!checked) {
      if (checked.error().kind == ErrorKind::kConnection) return std::unexpected(checked.error());
      if (checked.error().kind == ErrorKind::kNotFound) {
        report.problems.push_back("archive file " + key + " is missing");
      } else {
        report.problems.push_back(checked.error().message);
      }
    }
  }
  auto quarantined = store.List(kQuarantinePrefix);
  if (!quarantined) return std::unexpected(quarantined.error());
  for (const store::ObjectInfo& object : *quarantined) report.quarantined.push_back(object.key);
  return report;
}

}  // namespace walden::archive
