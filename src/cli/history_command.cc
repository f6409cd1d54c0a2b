// `walden history TABLE`: the common questions of a table's (or topic's) history as one
// command — what changed in a window, the last N changes, the changes of one key — planned
// and priced like any history query, and `--as-of` time travel: the table as it was at a
// commit time or LSN, rebuilt from the archive alone by the mirror's own replay.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "archive/manifest.h"
#include "cli/commands.h"
#include "common/identifiers.h"
#include "common/lsn.h"
#include "pipeline/http_api.h"
#include "pipeline/rebuild.h"
#include "query/query.h"
#include "store/object_store.h"

namespace walden::cli {
namespace {

// The newest files of `table` that hold at least `rows` changes: the LSN they start at.
std::optional<uint64_t> TailStart(const archive::ArchiveState& state, const QualifiedName& table,
                                  int64_t rows) {
  std::vector<const archive::SegmentFile*> files;
  for (const auto& [key, file] : state.live) {
    if (file.table == table) files.push_back(&file);
  }
  std::ranges::sort(files, [](auto* a, auto* b) { return a->last_lsn > b->last_lsn; });
  int64_t seen = 0;
  for (const archive::SegmentFile* file : files) {
    seen += file->rows;
    if (seen >= rows) return file->first_lsn;
  }
  return std::nullopt;  // fewer changes than asked for: all of them
}

// The WHERE conditions the options ask for, as SQL (values quoted).
Result<std::string> Conditions(const HistoryCommandOptions& o, std::optional<uint64_t> from_lsn) {
  std::string where = "TRUE";
  if (!o.since.empty()) {
    where += " AND _walden_commit_ts >= CAST(" + QuoteLiteral(o.since) + " AS TIMESTAMPTZ)";
  }
  if (!o.until.empty()) {
    where += " AND _walden_commit_ts < CAST(" + QuoteLiteral(o.until) + " AS TIMESTAMPTZ)";
  }
  if (from_lsn) where += fmt::format(" AND _walden_lsn >= {}", *from_lsn);
  if (!o.op.empty()) {
    if (o.op != "c" && o.op != "u" && o.op != "d" && o.op != "t" && o.op != "r") {
      return Fail(ErrorKind::kUsage,
                  "--op is c (insert), u (update), d (delete), t (truncate) "
                  "or r (snapshot read), not " +
                      o.op);
    }
    where += " AND _walden_op = " + QuoteLiteral(o.op);
  }
  if (!o.key.empty()) {
    const size_t eq = o.key.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(ErrorKind::kUsage, "--key is COLUMN=VALUE, e.g. --key id=42");
    }
    where += fmt::format(" AND CAST({} AS VARCHAR) = {}", QuoteIdent(o.key.substr(0, eq)),
                         QuoteLiteral(o.key.substr(eq + 1)));
  }
  return where;
}

int AsOf(const Config& config, const HistoryCommandOptions& o, const QualifiedName& table) {
  auto store = store::OpenStore(config.archive);
  if (!store) return ReportError(store.error());
  pipeline::RebuildScope scope{.table = table};
  if (auto lsn = Lsn::Parse(o.as_of)) {
    scope.until_lsn = *lsn;
  } else {
    scope.until_time = o.as_of;
  }
  const std::string scratch = pipeline::HistoryCache(config);
  const std::string path = fmt::format("{}/as-of-{}.duckdb", scratch, getpid());
  std::filesystem::create_directories(scratch);
  auto rebuilt = pipeline::RebuildMirror(**store, path, scratch, scope);
  auto cleanup = [&] {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + ".wal", ec);
  };
  if (!rebuilt) {
    cleanup();
    return ReportError(rebuilt.error());
  }
  auto format = query::ParseOutputFormat(o.format);
  auto db = duck::Database::Open(path, /*read_only=*/true);
  Result<std::string> output =
      !format ? Result<std::string>(std::unexpected(format.error()))
      : !db   ? Result<std::string>(std::unexpected(db.error()))
              : query::RunQuery(*db, "SELECT * FROM " + table.ToSql() + " ORDER BY ALL", *format);
  cleanup();
  if (!output) return ReportError(output.error());
  fmt::print("{}", *output);
  return 0;
}

}  // namespace

int HistoryCommand(const Config& config, const HistoryCommandOptions& o) {
  auto selector = ParseTableSelector(o.table);
  if (!selector || !selector->table) {
    return ReportError({ErrorKind::kUsage, "TABLE is schema.table, e.g. public.orders"});
  }
  const QualifiedName table{selector->schema, *selector->table};
  if (!o.as_of.empty()) return AsOf(config, o, table);
  std::optional<uint64_t> from_lsn;
  if (o.tail > 0 && o.since.empty()) {
    // The newest changes need only the newest files: the manifest says which.
    auto store = store::OpenStore(config.archive);
    if (!store) return ReportError(store.error());
    auto state = archive::Manifest(**store).Load();
    if (!state) return ReportError(state.error());
    from_lsn = TailStart(*state, table, o.tail);
    if (!from_lsn) from_lsn = 0;  // a bound all the same: every change, since there are few
  }
  auto where = Conditions(o, from_lsn);
  if (!where) return ReportError(where.error());
  const std::string history = "history." + table.ToSql();
  std::string sql =
      fmt::format("SELECT * FROM {} WHERE {} ORDER BY _walden_lsn, _walden_seq", history, *where);
  if (o.tail > 0) {
    sql = fmt::format(
        "SELECT * FROM (SELECT * FROM {} WHERE {} ORDER BY _walden_lsn DESC, _walden_seq DESC "
        "LIMIT {}) ORDER BY _walden_lsn, _walden_seq",
        history, *where, o.tail);
  }
  return QueryCommand(config, sql, o.format,
                      {.dry_run = o.dry_run, .allow_full_scan = o.allow_full_scan});
}

}  // namespace walden::cli
