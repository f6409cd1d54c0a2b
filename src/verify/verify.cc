#include "verify/verify.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/strings.h"
#include "pg/types.h"
#include "verify/archive_check.h"
#include "verify/table_check.h"

namespace walden::verify {
namespace {

constexpr int64_t kMaxKeylessRows = 1000000;

// The scratch database an archive verify copies the source into and attaches the
// archive's rebuilt state to; its files go when it does.
struct Work {
  std::string path;
  std::optional<duck::Database> db;
  Result<duck::Connection> conn = std::unexpected(Error{ErrorKind::kIo, "not opened"});
  ~Work() {
    conn = std::unexpected(Error{ErrorKind::kIo, "closed"});
    db.reset();
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + ".wal", ec);
  }
};

std::unique_ptr<Work> OpenWork(const std::string& dir) {
  auto work = std::make_unique<Work>();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  work->path = dir + "/source.duckdb";
  auto db = duck::Database::Open(work->path);
  if (!db) {
    work->conn = std::unexpected(db.error());
    return work;
  }
  work->db.emplace(std::move(*db));
  work->conn = duck::Connection::Open(*work->db);
  // A verify is background work beside the stream: one thread, bounded memory.
  if (work->conn) {
    if (auto set = work->conn->Execute("SET threads = 1; SET memory_limit = '256MB'"); !set) {
      work->conn = std::unexpected(set.error());
    }
  }
  return work;
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kEqual:
      return "equal";
    case Outcome::kDifferent:
      return "different";
    case Outcome::kSkipped:
      return "skipped";
  }
  return "?";
}

std::string_view TargetName(Target target) {
  return target == Target::kArchive ? "archive" : "mirror";
}

std::string DiffKindName(DiffKind kind, Target target) {
  switch (kind) {
    case DiffKind::kDiffers:
      return "differs";
    case DiffKind::kMissingInMirror:
      return fmt::format("missing in the {}", TargetName(target));
    case DiffKind::kOnlyInMirror:
      return fmt::format("only in the {}", TargetName(target));
  }
  return "?";
}

Status Verify(duck::Database& mirror, const std::vector<QualifiedName>& tables,
              const Options& options, const std::function<void(const ChunkReport&)>& report) {
  auto duck = duck::Connection::Open(mirror);
  if (!duck) return std::unexpected(duck.error());
  auto registry =
      duck->Query("SELECT state, definition FROM walden.tables ORDER BY schema_name, table_name");
  if (!registry) return std::unexpected(registry.error());
  std::vector<std::pair<std::string, change::TableDef>> known;
  for (size_t r = 0; r < registry->rows(); ++r) {
    auto def = change::TableDefFromJson(registry->Text(r, 1).value_or(""));
    if (!def) return Fail(ErrorKind::kIo, "mirror registry: " + def.error().message);
    if (!tables.empty() && std::ranges::find(tables, def->name) == tables.end()) continue;
    known.emplace_back(registry->Text(r, 0).value_or(""), std::move(*def));
  }
  for (const QualifiedName& asked : tables) {
    if (std::ranges::none_of(known, [&](const auto& k) { return k.second.name == asked; })) {
      return Fail(ErrorKind::kUsage, fmt::format("{} is not in the mirror; walden status lists "
                                                 "the tables it follows",
                                                 asked.Display()));
    }
  }
  auto pg = pg::Connection::Open(options.conninfo, {.options = pg::kReplicationSessionOptions});
  if (!pg) return std::unexpected(pg.error());
  auto work = options.archive ? OpenWork(options.archive->scratch_dir) : nullptr;
  if (work && !work->conn) return std::unexpected(work->conn.error());
  const Target target = options.archive ? Target::kArchive : Target::kMirror;
  for (auto& [state, def] : known) {
    ChunkReport skipped{.table = def.name, .target = target, .outcome = Outcome::kSkipped};
    if (state != "streaming") {
      // The archive's rebuild of an append-only table keeps inserts only too.
      skipped.note = state == "append-only"
                         ? std::string("append-only: the ") + std::string(TargetName(target)) +
                               " keeps inserts only"
                         : "not followed right now (" + state + ")";
      report(skipped);
      continue;
    }
    if (def.compacted) {
      skipped.note = options.archive
                         ? "a topic: the archive keeps every message, the source what "
                           "retention left"
                         : "a topic: the mirror keeps the latest message per key, not every "
                           "message";
      report(skipped);
      continue;
    }
    auto source = snapshot::DescribeTable(*pg, def.name);
    if (!source) return std::unexpected(source.error());
    const bool same_columns = std::ranges::equal(
        source->relation.columns, def.columns,
        [](const auto& pg_column, const auto& column) { return pg_column.name == column.name; });
    if (!same_columns || source->relation.columns.empty()) {
      skipped.note =
          "its columns differ from the mirror's (a schema change in flight?); "
          "verify it again";
      report(skipped);
      continue;
    }
    const bool keyed = !source->order_key.empty() && def.mode() == change::MatchMode::kKey;
    if (!keyed && source->estimated_rows > kMaxKeylessRows) {
      // Without a key the whole table is read at once (it cannot be cut into chunks that
      // stay comparable while rows move).
      skipped.note = fmt::format("about {:.0f} rows without a key: more than {} are not verified",
                                 source->estimated_rows, kMaxKeylessRows);
      report(skipped);
      continue;
    }
    if (work) {
      TableCheck check(*pg, *work->conn, options, def, std::move(*source));
      ArchiveCheck archive(check, *work->conn, *options.archive);
      if (auto ok = keyed ? archive.Keyed(report) : archive.Keyless(report); !ok) return ok;
      continue;
    }
    TableCheck check(*pg, *duck, options, def, std::move(*source));
    if (auto ok = keyed ? check.Keyed(report) : check.Keyless(report); !ok) return ok;
  }
  (void)duck->Execute(
      "DROP TABLE IF EXISTS temp.verify_src; DROP TABLE IF EXISTS temp.verify_keys");
  return {};
}

std::string ReportText(const ChunkReport& r) {
  if (r.outcome == Outcome::kSkipped) return r.table.Display() + ": skipped: " + r.note;
  std::string where = r.target == Target::kArchive ? " (archive)"
                      : r.chunk == 0               ? " rows only in the mirror"
                                                   : fmt::format(" chunk {}", r.chunk);
  if (!r.first_key.empty()) where += fmt::format(" ({} .. {})", r.first_key, r.last_key);
  std::string line = r.table.Display() + where + ": ";
  line += fmt::format("{} rows, {}", r.rows, OutcomeName(r.outcome));
  if (r.outcome == Outcome::kDifferent) {
    std::vector<std::string> listed;
    for (const Difference& d : r.differences) {
      listed.push_back(fmt::format("{} {}", d.key, DiffKindName(d.kind, r.target)));
    }
    line += fmt::format(" ({} rows): {}", r.different, Join(listed, "; "));
    if (r.different > static_cast<int64_t>(r.differences.size())) line += "; …";
  }
  if (r.unsettled > 0) line += fmt::format(" ({} keys kept changing: left out)", r.unsettled);
  return line;
}

std::string ReportJson(const ChunkReport& r) {
  nlohmann::ordered_json differences = nlohmann::ordered_json::array();
  for (const Difference& d : r.differences) {
    differences.push_back({{"key", d.key}, {"kind", DiffKindName(d.kind, r.target)}});
  }
  nlohmann::ordered_json out = {{"table", r.table.Display()},
                                {"target", TargetName(r.target)},
                                {"chunk", r.chunk},
                                {"first_key", r.first_key},
                                {"last_key", r.last_key},
                                {"rows", r.rows},
                                {"result", OutcomeName(r.outcome)},
                                {"different", r.different},
                                {"differences", std::move(differences)},
                                {"unsettled", r.unsettled},
                                {"note", r.note},
                                {"text", ReportText(r)}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace walden::verify
