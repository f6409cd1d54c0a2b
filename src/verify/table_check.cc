#include "verify/table_check.h"

#include <fmt/core.h>

#include <algorithm>

#include "common/strings.h"
#include "duck/appender.h"
#include "pg/types.h"

namespace walden::verify {

Error Stopped() {
  return {ErrorKind::kUsage, "verify was stopped: walden is stopping, or its client went away"};
}

TableCheck::TableCheck(pg::Connection& pg, duck::Connection& duck, const Options& options,
                       change::TableDef def, snapshot::SourceTable source)
    : pg_(pg),
      duck_(duck),
      options_(options),
      def_(std::move(def)),
      versioned_(std::move(source)),
      other_(def_.Physical().ToSql()) {
  // Quoted "xmin" and "ctid" name the system columns (no user column may be called so).
  auto& columns = versioned_.relation.columns;
  columns.insert(columns.begin(), 2, columns.front());
  columns[0].name = "xmin";
  columns[1].name = "ctid";
  for (size_t& k : versioned_.order_key) k += kVersion;
}

void TableCheck::Pause(Clock::time_point started) const {
  const auto until = Clock::now() + options_.pause * (Clock::now() - started);
  while (Clock::now() < until && !(options_.cancelled && options_.cancelled())) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(50), until - Clock::now()));
  }
}

std::string TableCheck::KeyColumns(const std::string& prefix, bool mirror) const {
  std::vector<std::string> out;
  for (size_t i : def_.KeyIndexes()) {
    out.push_back(prefix + (mirror ? QuoteIdent(def_.columns[i].name) : fmt::format("c{}", i)));
  }
  return Join(out, ", ");
}

std::string TableCheck::Key(const Tuple& row) const {
  std::vector<std::string> parts;
  for (size_t k : versioned_.order_key) {
    const std::string& name = versioned_.relation.columns[k].name;
    parts.push_back(name + "=" +
                    (row.values[k].kind == pg::pgoutput::ValueKind::kNull
                         ? std::string("NULL")
                         : std::string(row.Data(k))));
  }
  return Join(parts, ", ");
}

std::map<std::string, std::string> TableCheck::Versions(const std::vector<Tuple>& rows) const {
  std::map<std::string, std::string> out;
  for (const Tuple& row : rows) out[Key(row)] = Version(row);
  return out;
}

Result<Lsn> TableCheck::InSnapshot(const std::function<Status()>& body) {
  if (auto begun = pg_.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"); !begun) {
    return std::unexpected(begun.error());
  }
  Lsn lsn;
  auto done = [&]() -> Status {
    // The snapshot is taken by the first statement; the position read after it is past
    // every commit it sees.
    if (auto taken = pg_.QueryValue("SELECT 1"); !taken) return std::unexpected(taken.error());
    auto read = pg_.QueryValue("SELECT pg_catalog.pg_current_wal_insert_lsn()::text");
    if (!read) return std::unexpected(read.error());
    lsn = Lsn::Parse(*read).value_or(Lsn{});
    return body();
  }();
  (void)pg_.Exec(done ? "COMMIT" : "ROLLBACK");
  if (!done) return std::unexpected(done.error());
  // A commit after the read moves the sinks' watermarks past `lsn` even on an idle source.
  if (auto bumped =
          pg_.Exec("SELECT pg_catalog.pg_logical_emit_message(true, 'walden_verify', '')");
      !bumped) {
    return std::unexpected(bumped.error());
  }
  return lsn;
}

Result<Read> TableCheck::ReadSource(const std::string& select, size_t width) {
  Read read;
  auto lsn = InSnapshot([&] {
    return snapshot::ReadCopyText(
        pg_, select, width == 0 ? versioned_.relation.columns.size() : width, read.rows);
  });
  if (!lsn) return std::unexpected(lsn.error());
  read.lsn = *lsn;
  return read;
}

Status TableCheck::WaitForMirror(Lsn lsn) {
  const auto deadline = Clock::now() + options_.catch_up_timeout;
  while (true) {
    auto state = duck_.Query("SELECT commit_lsn FROM walden.state");
    if (!state) return std::unexpected(state.error());
    const uint64_t merged = state->rows() == 0 ? 0 : duckdb_value_uint64(state->get(), 0, 0);
    if (merged >= lsn.value) return {};
    if (options_.cancelled && options_.cancelled()) {
      return std::unexpected(Stopped());
    }
    if (Clock::now() > deadline) {
      return Fail(
          ErrorKind::kIo,
          fmt::format(
              "the mirror did not merge up to {} within {} s (it is at {}); is "
              "walden behind? see walden status",
              lsn.ToString(),
              std::chrono::duration_cast<std::chrono::seconds>(options_.catch_up_timeout).count(),
              Lsn{merged}.ToString()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status TableCheck::Load(const std::vector<Tuple>& rows, bool append) {
  std::string columns = "_v VARCHAR, _k VARCHAR";
  std::vector<ColumnType> types = {ColumnType{.kind = TypeKind::kText},
                                   ColumnType{.kind = TypeKind::kText}};
  for (size_t i = 0; i < def_.columns.size(); ++i) {
    columns += fmt::format(", c{} {}", i, def_.columns[i].type.DuckDbName());
    types.push_back(def_.columns[i].type);
  }
  if (auto ok = duck_.Execute(fmt::format("CREATE {} TEMP TABLE {}verify_src ({})",
                                          append ? "" : "OR REPLACE",
                                          append ? "IF NOT EXISTS " : "", columns));
      !ok) {
    return ok;
  }
  auto appender = duck::Appender::Open(duck_, "main", "verify_src", "temp");
  if (!appender) return std::unexpected(appender.error());
  std::vector<Datum> values;
  for (const Tuple& row : rows) {
    values.clear();
    values.emplace_back(Version(row));
    values.emplace_back(Key(row));
    for (size_t i = 0; i < def_.columns.size(); ++i) {
      const size_t at = i + kVersion;
      if (row.values[at].kind == pg::pgoutput::ValueKind::kNull) {
        values.emplace_back(Null{});
        continue;
      }
      auto value = pg::ParseText(def_.columns[i].type, row.Data(at));
      if (!value) {
        return Fail(ErrorKind::kProtocol, fmt::format("{}: column {}: {}", def_.name.Display(),
                                                      def_.columns[i].name, value.error().message));
      }
      values.push_back(std::move(*value));
    }
    if (auto ok = appender->AppendRow(types, std::span<const Datum>(values)); !ok) return ok;
  }
  return appender->Flush();
}

Result<std::map<std::string, DiffKind>> TableCheck::Compare() {
  std::vector<std::string> on, differs;
  for (size_t i = 0; i < def_.columns.size(); ++i) {
    const std::string mirror = "m." + QuoteIdent(def_.columns[i].name);
    const std::string src = fmt::format("s.c{}", i);
    if (def_.columns[i].key) on.push_back(src + " = " + mirror);
    differs.push_back(src + " IS DISTINCT FROM " + mirror);
  }
  const std::string first_key = "m." + QuoteIdent(def_.columns[def_.KeyIndexes().front()].name);
  auto result = duck_.Query(fmt::format(
      "SELECT s._k, {0} IS NULL FROM temp.verify_src s LEFT JOIN {1} m ON {2} WHERE {0} IS NULL "
      "OR {3}",
      first_key, other_, Join(on, " AND "), Join(differs, " OR ")));
  if (!result) return std::unexpected(result.error());
  std::map<std::string, DiffKind> out;
  for (size_t r = 0; r < result->rows(); ++r) {
    out[result->Text(r, 0).value_or("")] =
        duckdb_value_boolean(result->get(), 1, r) ? DiffKind::kMissingInMirror : DiffKind::kDiffers;
  }
  return out;
}

Status TableCheck::Settle(const std::string& select, Read first,
                          std::map<std::string, DiffKind> diff, ChunkReport& out) {
  std::map<std::string, DiffKind> confirmed;
  std::set<std::string> repaired;  // confirmed keys already in out.repair_keys
  Read previous = std::move(first);
  for (int round = 1; round <= kRounds && !diff.empty(); ++round) {
    auto again = ReadSource(select);
    if (!again) return std::unexpected(again.error());
    const auto before = Versions(previous.rows), now = Versions(again->rows);
    std::map<std::string, DiffKind> moving;
    for (const auto& [key, kind] : diff) {
      auto b = before.find(key), n = now.find(key);
      const bool stable = b != before.end() && n != now.end() && b->second == n->second;
      (stable ? confirmed : moving)[key] = kind;
    }
    for (const Tuple& row : again->rows) {  // a confirmed key is in both reads
      if (out.repair_keys.size() >= ChunkReport::kRepairKeys) break;
      const std::string key = Key(row);
      if (confirmed.contains(key) && repaired.insert(key).second) {
        out.repair_keys.push_back(snapshot::KeyOf(versioned_, row));
      }
    }
    if (moving.empty() || round == kRounds) {
      out.unsettled = static_cast<int64_t>(moving.size());
      break;
    }
    if (auto ok = WaitForMirror(again->lsn); !ok) return ok;
    if (auto ok = Load(again->rows); !ok) return ok;
    auto compared = Compare();
    if (!compared) return std::unexpected(compared.error());
    diff.clear();
    for (const auto& [key, kind] : moving) {
      if (auto it = compared->find(key); it != compared->end()) diff[key] = it->second;
    }
    previous = std::move(*again);
  }
  out.different = static_cast<int64_t>(confirmed.size());
  for (const auto& [key, kind] : confirmed) {
    if (out.differences.size() < ChunkReport::kListed) out.differences.push_back({key, kind});
  }
  return {};
}

Status TableCheck::Keyed(const std::function<void(const ChunkReport&)>& report) {
  if (auto ok = duck_.Execute(fmt::format(
          "CREATE OR REPLACE TEMP TABLE verify_keys AS SELECT {} FROM {} LIMIT 0",
          [&] {
            std::vector<std::string> columns;
            for (size_t i : def_.KeyIndexes()) {
              columns.push_back(fmt::format("{} AS c{}", QuoteIdent(def_.columns[i].name), i));
            }
            return Join(columns, ", ");
          }(),
          other_));
      !ok) {
    return ok;
  }
  snapshot::Chunk chunk;
  for (int number = 1;; ++number) {
    const auto chunk_started = Clock::now();
    const std::string select = snapshot::ChunkQuery(versioned_, chunk, options_.chunk_rows);
    auto read = ReadSource(select);
    if (!read) return std::unexpected(read.error());
    if (read->rows.empty() && number > 1) break;  // the last chunk was exactly full
    ChunkReport out{.table = def_.name, .chunk = number};
    out.rows = static_cast<int64_t>(read->rows.size());
    if (!read->rows.empty()) {
      out.first_key = Key(read->rows.front());
      out.last_key = Key(read->rows.back());
    }
    const bool last = static_cast<int64_t>(read->rows.size()) < options_.chunk_rows;
    snapshot::Chunk bounded = chunk;
    if (!read->rows.empty()) bounded.hi = snapshot::KeyOf(versioned_, read->rows.back());
    if (auto ok = WaitForMirror(read->lsn); !ok) return ok;
    if (auto ok = Load(read->rows); !ok) return ok;
    if (auto ok = duck_.Execute(fmt::format("INSERT INTO verify_keys SELECT {} FROM verify_src",
                                            KeyColumns("", false)));
        !ok) {
      return ok;
    }
    auto diff = Compare();
    if (!diff) return std::unexpected(diff.error());
    if (!diff->empty()) {
      // Later reads cover the same key range, however the key moves.
      if (auto ok = Settle(snapshot::ChunkQuery(versioned_, bounded), std::move(*read),
                           std::move(*diff), out);
          !ok) {
        return ok;
      }
    }
    out.outcome = out.different > 0 ? Outcome::kDifferent : Outcome::kEqual;
    report(out);
    if (last) break;
    Pause(chunk_started);  // verify works at most 1 / (1 + pause) of the time
    chunk.lo = bounded.hi;
    if (options_.cancelled && options_.cancelled()) {
      return std::unexpected(Stopped());
    }
  }
  ChunkReport extra{.table = def_.name, .chunk = 0};
  if (auto ok = OnlyInMirror(extra); !ok) return ok;
  report(extra);
  return {};
}

std::vector<std::string> RepairKey(const KeyValues& key) {
  std::vector<std::string> out;
  for (const auto& value : key) out.push_back(value.value_or(""));  // keys are NOT NULL
  return out;
}

std::string TableCheck::Display(const KeyValues& key) const {
  std::vector<std::string> parts;
  const std::vector<size_t> columns = def_.KeyIndexes();
  for (size_t k = 0; k < columns.size(); ++k) {
    parts.push_back(def_.columns[columns[k]].name + "=" + key[k].value_or("NULL"));
  }
  return Join(parts, ", ");
}

std::string TableCheck::KeyIn(const std::vector<KeyValues>& keys, bool duckdb) const {
  if (keys.empty()) return "false";
  const std::vector<size_t> columns = def_.KeyIndexes();
  std::vector<std::string> any;
  for (const KeyValues& key : keys) {
    std::vector<std::string> equal;
    for (size_t k = 0; k < columns.size(); ++k) {
      const std::string column = QuoteIdent(def_.columns[columns[k]].name);
      // PostgreSQL gives an untyped literal the column's type (compared as values); DuckDB
      // compares the text forms it printed the keys in.
      equal.push_back(!key[k]  ? column + " IS NULL"
                      : duckdb ? column + "::VARCHAR = " + QuoteLiteral(*key[k])
                               : column + " = " + QuoteLiteral(*key[k]));
    }
    any.push_back("(" + Join(equal, " AND ") + ")");
  }
  return Join(any, " OR ");
}

std::string TableCheck::SelectWhere(const std::string& where) const {
  std::vector<std::string> columns;
  for (const auto& column : versioned_.relation.columns) columns.push_back(QuoteIdent(column.name));
  return fmt::format("SELECT {} FROM {} WHERE {}", Join(columns, ", "), def_.name.ToSql(), where);
}

Result<std::pair<std::set<size_t>, Lsn>> TableCheck::SourceHas(const std::vector<KeyValues>& keys) {
  if (keys.empty()) return std::pair{std::set<size_t>{}, Lsn{}};
  std::vector<std::string> probes;
  for (size_t i = 0; i < keys.size(); ++i) {
    probes.push_back(fmt::format("SELECT {} WHERE EXISTS (SELECT 1 FROM {} WHERE {})", i,
                                 def_.name.ToSql(), KeyIn({keys[i]}, false)));
  }
  auto read = ReadSource(Join(probes, " UNION ALL "), 1);
  if (!read) return std::unexpected(read.error());
  std::set<size_t> present;
  for (const Tuple& row : read->rows) {
    present.insert(static_cast<size_t>(ParseUint64(row.Data(0)).value_or(0)));
  }
  return std::pair{std::move(present), read->lsn};
}

Status TableCheck::OnlyInMirror(ChunkReport& out) {
  std::vector<std::string> on, texts;
  for (size_t i : def_.KeyIndexes()) {
    const std::string name = QuoteIdent(def_.columns[i].name);
    on.push_back(fmt::format("m.{0} = k.c{1}", name, i));
    texts.push_back(name + "::VARCHAR");
  }
  // Mirror keys no chunk read saw: rows only the mirror has, or rows inserted since.
  auto candidates =
      duck_.Query(fmt::format("SELECT {} FROM {} m ANTI JOIN verify_keys k ON {} LIMIT 100000",
                              Join(texts, ", "), other_, Join(on, " AND ")));
  if (!candidates) return std::unexpected(candidates.error());
  std::vector<KeyValues> keys(candidates->rows());
  for (size_t r = 0; r < keys.size(); ++r) {
    for (size_t c = 0; c < candidates->columns(); ++c) keys[r].push_back(candidates->Text(r, c));
  }
  out.rows = static_cast<int64_t>(keys.size());
  for (size_t start = 0; start < keys.size(); start += 1000) {
    const auto batch_started = Clock::now();
    std::vector<KeyValues> batch(
        keys.begin() + static_cast<std::ptrdiff_t>(start),
        keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), start + 1000)));
    auto first = SourceHas(batch);
    if (!first) return std::unexpected(first.error());
    std::vector<KeyValues> absent;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!first->first.contains(i)) absent.push_back(batch[i]);
    }
    if (absent.empty()) continue;
    // Still in the mirror once it has every commit the read saw, and still absent after.
    if (auto ok = WaitForMirror(first->second); !ok) return ok;
    auto still = duck_.Query(
        fmt::format("SELECT {} FROM {} WHERE {}", Join(texts, ", "), other_, KeyIn(absent, true)));
    if (!still) return std::unexpected(still.error());
    std::vector<KeyValues> kept(still->rows());
    for (size_t r = 0; r < kept.size(); ++r) {
      for (size_t c = 0; c < still->columns(); ++c) kept[r].push_back(still->Text(r, c));
    }
    auto second = SourceHas(kept);
    if (!second) return std::unexpected(second.error());
    for (size_t i = 0; i < kept.size(); ++i) {
      if (second->first.contains(i)) {
        ++out.unsettled;
        continue;
      }
      ++out.different;
      if (out.differences.size() < ChunkReport::kListed) {
        out.differences.push_back({Display(kept[i]), DiffKind::kOnlyInMirror});
      }
      if (out.repair_keys.size() < ChunkReport::kRepairKeys) {
        out.repair_keys.push_back(RepairKey(kept[i]));
      }
    }
    Pause(batch_started);
  }
  out.outcome = out.different > 0 ? Outcome::kDifferent : Outcome::kEqual;
  return {};
}

Result<int64_t> TableCheck::CountDifferent() {
  std::vector<std::string> mirror_columns, src_columns;
  for (size_t i = 0; i < def_.columns.size(); ++i) {
    mirror_columns.push_back(QuoteIdent(def_.columns[i].name));
    src_columns.push_back(fmt::format("c{}", i));
  }
  auto counted = duck_.Query(fmt::format(
      "SELECT count(*) FROM ((SELECT {0} FROM temp.verify_src EXCEPT ALL SELECT {1} FROM {2}) "
      "UNION ALL (SELECT {1} FROM {2} EXCEPT ALL SELECT {0} FROM temp.verify_src))",
      Join(src_columns, ", "), Join(mirror_columns, ", "), other_));
  if (!counted) return std::unexpected(counted.error());
  return duckdb_value_int64(counted->get(), 0, 0);
}

Status TableCheck::Keyless(const std::function<void(const ChunkReport&)>& report) {
  const std::string select = snapshot::ChunkQuery(versioned_, snapshot::Chunk{});
  auto versions = [&](const Read& read) {
    std::multiset<std::string> out;
    for (const Tuple& row : read.rows) out.insert(Version(row));
    return out;
  };
  ChunkReport out{.table = def_.name, .chunk = 1};
  auto read = ReadSource(select);
  if (!read) return std::unexpected(read.error());
  out.rows = static_cast<int64_t>(read->rows.size());
  for (int round = 1;; ++round) {
    if (auto ok = WaitForMirror(read->lsn); !ok) return ok;
    if (auto ok = Load(read->rows); !ok) return ok;
    auto different = CountDifferent();
    if (!different) return std::unexpected(different.error());
    if (*different == 0) break;
    auto again = ReadSource(select);
    if (!again) return std::unexpected(again.error());
    if (versions(*again) == versions(*read)) {  // no commit touched the table in between
      out.different = *different;
      break;
    }
    if (round == kRounds) {
      out.unsettled = *different;
      break;
    }
    read = std::move(again);
  }
  out.outcome = out.different > 0 ? Outcome::kDifferent : Outcome::kEqual;
  report(out);
  return {};
}

}  // namespace walden::verify
