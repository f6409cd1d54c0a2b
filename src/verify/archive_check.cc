#include "verify/archive_check.h"

#include <fmt/core.h>

#include <filesystem>
#include <optional>

#include "common/strings.h"
#include "duck/appender.h"

namespace walden::verify {
namespace {

// Rows per COPY of the whole-table read (one snapshot): bounds what is held in memory.
constexpr int64_t kReadChunk = 10000;
constexpr size_t kProbeBatch = 1000;  // keys per re-read statement

void RemoveDatabase(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::remove(path + ".wal", ec);
}

}  // namespace

Result<Lsn> ArchiveCheck::ReadWhole(int64_t& rows) {
  std::vector<Tuple> buffer;
  rows = 0;
  return check_.InSnapshot([&]() -> Status {
    const snapshot::SourceTable& table = check_.versioned();
    snapshot::Chunk chunk;
    for (bool first = true;; first = false) {
      buffer.clear();
      const int64_t limit = table.order_key.empty() ? 0 : kReadChunk;  // keyless: at once
      if (auto ok = check_.ReadRows(snapshot::ChunkQuery(table, chunk, limit), buffer); !ok) {
        return ok;
      }
      if (auto ok = check_.Load(buffer, !first); !ok) return ok;
      rows += static_cast<int64_t>(buffer.size());
      if (limit == 0 || static_cast<int64_t>(buffer.size()) < limit) return {};
      chunk.lo = snapshot::KeyOf(table, buffer.back());
      if (check_.Cancelled()) return std::unexpected(Stopped());
    }
  });
}

Result<Lsn> ArchiveCheck::ReadKeys(const std::vector<KeyValues>& keys) {
  std::vector<Tuple> buffer;
  return check_.InSnapshot([&]() -> Status {
    for (size_t start = 0; start == 0 || start < keys.size(); start += kProbeBatch) {
      const auto from = keys.begin() + static_cast<std::ptrdiff_t>(start);
      const std::vector<KeyValues> batch(
          from, from + static_cast<std::ptrdiff_t>(std::min(kProbeBatch, keys.size() - start)));
      buffer.clear();
      if (auto ok = check_.ReadRows(check_.SelectWhere(check_.KeyIn(batch, false)), buffer); !ok) {
        return ok;
      }
      if (auto ok = check_.Load(buffer, start > 0); !ok) return ok;
    }
    return {};
  });
}

Status ArchiveCheck::WaitDurable(Lsn lsn) {
  const auto deadline = Clock::now() + archive_.durable_timeout;
  while (true) {
    const Lsn durable = archive_.durable();
    if (durable >= lsn) return {};
    if (check_.Cancelled()) return std::unexpected(Stopped());
    if (Clock::now() > deadline) {
      return Fail(
          ErrorKind::kIo,
          fmt::format(
              "the archive did not make the commits up to {} durable within {} s "
              "(it is at {}); is its store reachable? see walden status",
              lsn.ToString(),
              std::chrono::duration_cast<std::chrono::seconds>(archive_.durable_timeout).count(),
              durable.ToString()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status ArchiveCheck::Rebuild(Lsn lsn) {
  if (auto ok = work_.Execute("DETACH DATABASE IF EXISTS archive"); !ok) return ok;
  if (!attached_.empty()) RemoveDatabase(attached_);
  attached_ = fmt::format("{}/archive-{}.duckdb", archive_.scratch_dir, ++rebuilds_);
  const change::TableDef& def = check_.def();
  if (auto ok = archive_.rebuild(def.name, lsn, attached_); !ok) return ok;
  if (auto ok = work_.Execute("ATTACH " + QuoteLiteral(attached_) + " AS archive (READ_ONLY)");
      !ok) {
    return ok;
  }
  const QualifiedName physical = def.Physical();
  auto found = work_.Query(fmt::format(
      "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'archive' AND schema_name = {} "
      "AND table_name = {}",
      QuoteLiteral(physical.schema), QuoteLiteral(physical.name)));
  if (!found) return std::unexpected(found.error());
  if (duckdb_value_int64(found->get(), 0, 0) > 0) {
    check_.CompareWith("archive." + physical.ToSql());
    return {};
  }
  // Nothing of the table is archived at that position: its state there is empty.
  std::vector<std::string> columns;
  for (size_t i = 0; i < def.columns.size(); ++i) {
    columns.push_back(fmt::format("c{} AS {}", i, QuoteIdent(def.columns[i].name)));
  }
  check_.CompareWith("temp.verify_none");
  return work_.Execute(fmt::format(
      "CREATE OR REPLACE TEMP TABLE verify_none AS SELECT {} FROM temp.verify_src LIMIT 0",
      Join(columns, ", ")));
}

std::string ArchiveCheck::OnKeys(const std::string& left, bool left_loaded,
                                 const std::string& right) const {
  std::vector<std::string> on;
  const std::vector<size_t> keys = check_.def().KeyIndexes();
  for (size_t n = 0; n < keys.size(); ++n) {
    const std::string column =
        left_loaded ? fmt::format("c{}", keys[n]) : QuoteIdent(check_.def().columns[keys[n]].name);
    on.push_back(fmt::format("{}.{}::VARCHAR = {}.k{}", left, column, right, n));
  }
  return Join(on, " AND ");
}

Status ArchiveCheck::SetRecheck(const std::vector<KeyValues>& keys) {
  const size_t width = check_.def().KeyIndexes().size();
  std::vector<std::string> columns;
  for (size_t n = 0; n < width; ++n) columns.push_back(fmt::format("k{} VARCHAR", n));
  if (auto ok = work_.Execute("CREATE OR REPLACE TEMP TABLE verify_recheck (" +
                              Join(columns, ", ") + ")");
      !ok) {
    return ok;
  }
  auto appender = duck::Appender::Open(work_, "main", "verify_recheck", "temp");
  if (!appender) return std::unexpected(appender.error());
  const std::vector<ColumnType> types(width, ColumnType{.kind = TypeKind::kText});
  std::vector<Datum> values;
  for (const KeyValues& key : keys) {
    values.clear();
    for (const auto& value : key) {
      if (value) {
        values.emplace_back(*value);
      } else {
        values.emplace_back(Null{});
      }
    }
    if (auto ok = appender->AppendRow(types, std::span<const Datum>(values)); !ok) return ok;
  }
  return appender->Flush();
}

Result<std::map<KeyValues, DiffKind>> ArchiveCheck::Compare(bool restricted) {
  const change::TableDef& def = check_.def();
  std::vector<std::string> keys, on, differs;
  for (size_t i = 0; i < def.columns.size(); ++i) {
    const std::string archived = "a." + QuoteIdent(def.columns[i].name);
    const std::string src = fmt::format("s.c{}", i);
    if (def.columns[i].key) {
      on.push_back(src + " = " + archived);
      keys.push_back(fmt::format("coalesce({}, {})::VARCHAR", src, archived));
    }
    differs.push_back(src + " IS DISTINCT FROM " + archived);
  }
  const size_t k0 = def.KeyIndexes().front();
  const std::string archived_k0 = "a." + QuoteIdent(def.columns[k0].name);
  const std::string other =
      restricted ? fmt::format("(SELECT a.* FROM {} a SEMI JOIN temp.verify_recheck r ON {})",
                               check_.other(), OnKeys("a", false, "r"))
                 : check_.other();
  auto result = work_.Query(fmt::format(
      "SELECT {0}, CASE WHEN {1} IS NULL THEN 1 WHEN s.c{2} IS NULL THEN 2 ELSE 0 END "
      "FROM temp.verify_src s FULL JOIN {3} a ON {4} WHERE {1} IS NULL OR s.c{2} IS NULL OR {5}",
      Join(keys, ", "), archived_k0, k0, other, Join(on, " AND "), Join(differs, " OR ")));
  if (!result) return std::unexpected(result.error());
  std::map<KeyValues, DiffKind> out;
  const size_t width = keys.size();
  for (size_t r = 0; r < result->rows(); ++r) {
    KeyValues key;
    for (size_t c = 0; c < width; ++c) key.push_back(result->Text(r, c));
    const int64_t kind = duckdb_value_int64(result->get(), width, r);
    out[std::move(key)] = kind == 1   ? DiffKind::kMissingInMirror
                          : kind == 2 ? DiffKind::kOnlyInMirror
                                      : DiffKind::kDiffers;
  }
  return out;
}

Result<std::map<KeyValues, std::string>> ArchiveCheck::Versions() {
  std::vector<std::string> keys;
  for (size_t i : check_.def().KeyIndexes()) keys.push_back(fmt::format("s.c{}::VARCHAR", i));
  auto result = work_.Query(
      fmt::format("SELECT {}, s._v FROM temp.verify_src s SEMI JOIN temp.verify_recheck r ON {}",
                  Join(keys, ", "), OnKeys("s", true, "r")));
  if (!result) return std::unexpected(result.error());
  std::map<KeyValues, std::string> out;
  for (size_t r = 0; r < result->rows(); ++r) {
    KeyValues key;
    for (size_t c = 0; c < keys.size(); ++c) key.push_back(result->Text(r, c));
    out[std::move(key)] = result->Text(r, keys.size()).value_or("");
  }
  return out;
}

Status ArchiveCheck::Keyed(const std::function<void(const ChunkReport&)>& report) {
  ChunkReport out{.table = check_.def().name, .target = Target::kArchive, .chunk = 1};
  auto lsn = ReadWhole(out.rows);
  if (!lsn) return std::unexpected(lsn.error());
  if (auto ok = WaitDurable(*lsn); !ok) return ok;
  if (auto ok = Rebuild(*lsn); !ok) return ok;
  auto diff = Compare(false);
  if (!diff) return std::unexpected(diff.error());
  std::map<KeyValues, std::string> before;
  std::map<KeyValues, DiffKind> confirmed;
  for (int round = 1; !diff->empty(); ++round) {
    std::vector<KeyValues> keys;
    for (const auto& [key, kind] : *diff) keys.push_back(key);
    if (auto ok = SetRecheck(keys); !ok) return ok;
    auto now = Versions();
    if (!now) return std::unexpected(now.error());
    // Different in two rounds with the same row version (or absent both times): no commit
    // the first read might have missed touched the key, so the archive is wrong.
    std::map<KeyValues, DiffKind> moving;
    for (const auto& [key, kind] : *diff) {
      const auto was = before.find(key), is = now->find(key);
      const bool stable = round > 1 && (was == before.end() ? "" : was->second) ==
                                           (is == now->end() ? "" : is->second);
      (stable ? confirmed : moving)[key] = kind;
    }
    if (moving.empty()) break;
    if (round == kRounds) {
      out.unsettled = static_cast<int64_t>(moving.size());
      break;
    }
    before = std::move(*now);
    keys.clear();
    for (const auto& [key, kind] : moving) keys.push_back(key);
    if (auto ok = SetRecheck(keys); !ok) return ok;
    lsn = ReadKeys(keys);
    if (!lsn) return std::unexpected(lsn.error());
    if (auto ok = WaitDurable(*lsn); !ok) return ok;
    if (auto ok = Rebuild(*lsn); !ok) return ok;
    diff = Compare(true);
    if (!diff) return std::unexpected(diff.error());
  }
  out.different = static_cast<int64_t>(confirmed.size());
  for (const auto& [key, kind] : confirmed) {
    if (out.differences.size() < ChunkReport::kListed) {
      out.differences.push_back({check_.Display(key), kind});
    }
    if (out.repair_keys.size() < ChunkReport::kRepairKeys)
      out.repair_keys.push_back(RepairKey(key));
  }
  out.outcome = out.different > 0 ? Outcome::kDifferent : Outcome::kEqual;
  report(out);
  return {};
}

Status ArchiveCheck::Keyless(const std::function<void(const ChunkReport&)>& report) {
  ChunkReport out{.table = check_.def().name, .target = Target::kArchive, .chunk = 1};
  std::optional<std::multiset<std::string>> previous;
  auto lsn = ReadWhole(out.rows);
  for (int round = 1;; ++round) {
    if (!lsn) return std::unexpected(lsn.error());
    if (auto ok = WaitDurable(*lsn); !ok) return ok;
    if (auto ok = Rebuild(*lsn); !ok) return ok;
    auto different = check_.CountDifferent();
    if (!different) return std::unexpected(different.error());
    if (*different == 0) break;
    auto versions = work_.Query("SELECT _v FROM temp.verify_src");
    if (!versions) return std::unexpected(versions.error());
    std::multiset<std::string> bag;
    for (size_t r = 0; r < versions->rows(); ++r) bag.insert(versions->Text(r, 0).value_or(""));
    if (previous && *previous == bag) {  // no commit touched the table between the reads
      out.different = *different;
      break;
    }
    if (round == kRounds) {
      out.unsettled = *different;
      break;
    }
    previous = std::move(bag);
    lsn = ReadWhole(out.rows);
  }
  out.outcome = out.different > 0 ? Outcome::kDifferent : Outcome::kEqual;
  report(out);
  return {};
}

ArchiveCheck::~ArchiveCheck() {
  (void)work_.Execute("DETACH DATABASE IF EXISTS archive");
  if (!attached_.empty()) RemoveDatabase(attached_);
}

}  // namespace walden::verify
