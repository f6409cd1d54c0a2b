#include "archive/segment_writer.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>

#include "common/checksum.h"
#include "common/strings.h"

namespace walden::archive {
namespace {

namespace fs = std::filesystem;

// Metadata columns after the table's own (design §3), with the kinds the appender writes.
constexpr const char* kMetadataDdl =
    "_walden_op VARCHAR, _walden_lsn UBIGINT, _walden_seq BIGINT, _walden_xid UINTEGER, "
    "_walden_commit_ts TIMESTAMPTZ, _walden_before JSON, _walden_unchanged VARCHAR[]";

std::vector<ColumnType> MetadataTypes() {
  return {ColumnType{.kind = TypeKind::kText},
          ColumnType{.kind = TypeKind::kInt64},
          ColumnType{.kind = TypeKind::kInt64},
          ColumnType{.kind = TypeKind::kInt64},
          ColumnType{.kind = TypeKind::kTimestampTz},
          ColumnType{.kind = TypeKind::kJson},
          ColumnType{
              .kind = TypeKind::kList,
              .element = std::make_shared<const ColumnType>(ColumnType{.kind = TypeKind::kText})}};
}

// "YYYY-MM-DD" (UTC) of µs since 1970, as strftime gives it for a TIMESTAMPTZ in UTC.
std::string UtcDay(int64_t micros) {
  using namespace std::chrono;
  const auto days = floor<std::chrono::days>(sys_time<microseconds>(microseconds(micros)));
  const year_month_day ymd(days);
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}

}  // namespace

std::string EncodePathSegment(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    const bool leading_dot = i == 0 && c == '.';
    if (c == '%' || c == '/' || c < 0x20 || c == 0x7f || leading_dot) {
      out += fmt::format("%{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string SegmentKey(const QualifiedName& table, const std::string& day, uint64_t first_lsn,
                       uint64_t last_lsn) {
  return fmt::format("tables/{}/{}/dt={}/{:016X}-{:016X}.parquet", EncodePathSegment(table.schema),
                     EncodePathSegment(table.name), day, first_lsn, last_lsn);
}

std::optional<uint64_t> SegmentFirstLsn(std::string_view key) {
  const size_t slash = key.rfind('/');
  const std::string_view name = key.substr(slash == std::string_view::npos ? 0 : slash + 1);
  if (name.size() != 16 + 1 + 16 + 8 || name[16] != '-' || !name.ends_with(".parquet")) {
    return std::nullopt;
  }
  uint64_t lsn = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + 16, lsn, 16);
  if (ec != std::errc() || end != name.data() + 16) return std::nullopt;
  return lsn;
}

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& path,
                                           const std::string& memory_limit) {
  if (path != ":memory:") {
    std::error_code ec;
    fs::remove(path, ec);  // never durable: a stale spool is replayed from the slot
    fs::remove(path + ".wal", ec);
  }
  auto db = duck::Database::Open(path);
  if (!db) return std::unexpected(db.error());
  auto conn = duck::Connection::Open(*db);
  if (!conn) return std::unexpected(conn.error());
  const std::string settings[] = {"SET TimeZone = 'UTC'",
                                  "SET memory_limit = " + QuoteLiteral(memory_limit)};
  for (const std::string& setting : settings) {
    if (auto ok = conn->Execute(setting); !ok) return std::unexpected(ok.error());
  }
  return std::unique_ptr<Spool>(new Spool(std::move(*db), std::move(*conn)));
}

Spool::Spooled* Spool::Find(const TableSchema& table) {
  for (Spooled& spooled : tables_) {
    if (spooled.schema.version == table.version && spooled.schema.name == table.name) {
      return &spooled;
    }
  }
  return nullptr;
}

Result<Spool::Spooled*> Spool::EnsureTable(const TableSchema& table) {
  if (Spooled* spooled = Find(table)) return spooled;
  const std::string name = "spool_" + std::to_string(next_table_++);
  std::string ddl = "CREATE TABLE " + name + " (";
  for (size_t i = 0; i < table.columns.size(); ++i) {
    ddl += QuoteIdent(table.columns[i]) + " " + table.types[i].DuckDbName() + ", ";
  }
  if (auto ok = conn_.Execute(ddl + kMetadataDdl + ")"); !ok) return std::unexpected(ok.error());
  auto appender = duck::Appender::Open(conn_, "main", name);
  if (!appender) return std::unexpected(appender.error());
  std::vector<ColumnType> row_types = table.types;
  for (ColumnType& type : MetadataTypes()) row_types.push_back(std::move(type));
  tables_.push_back(
      {table, name, std::make_unique<duck::Appender>(std::move(*appender)), std::move(row_types)});
  return &tables_.back();
}

Status Spool::Append(const TableSchema& table, std::span<const ArchiveChange> changes) {
  auto spooled = EnsureTable(table);
  if (!spooled) return std::unexpected(spooled.error());
  duck::Appender* appender = (*spooled)->appender.get();
  const std::vector<ColumnType>& types = (*spooled)->row_types;
  std::vector<const Datum*> cells;
  for (const ArchiveChange& change : changes) {
    List unchanged;
    for (const std::string& column : change.unchanged) unchanged.items.emplace_back(column);
    const Datum meta[] = {Datum(std::string(1, change.op)),
                          Datum(static_cast<int64_t>(change.commit_lsn)),
                          Datum(change.seq),
                          Datum(static_cast<int64_t>(change.xid)),
                          Datum(Timestamp{change.commit_time}),
                          change.before ? Datum(*change.before) : Datum(Null{}),
                          Datum(std::move(unchanged))};
    cells.clear();
    for (const Datum& value : change.values) cells.push_back(&value);
    for (const Datum& value : meta) cells.push_back(&value);
    if (auto ok = appender->AppendRow(types, std::span<const Datum* const>(cells)); !ok) {
      return Wrap(ok.error(), "archive spool for " + table.name.Display());
    }
  }
  rows_ += static_cast<int64_t>(changes.size());
  return {};
}

Result<SegmentFile> WriteQuerySegment(duck::Connection& conn, const TableSchema& table,
                                      const std::string& select_sql, const ArchiveChange& change,
                                      const std::string& out_dir) {
  std::string columns;
  for (size_t i = 0; i < table.columns.size(); ++i) {
    columns += fmt::format("c{} AS {}, ", i, QuoteIdent(table.columns[i]));
  }
  SegmentFile file{.table = table.name,
                   .schema_version = table.version,
                   .day = UtcDay(change.commit_time),
                   .first_lsn = change.commit_lsn,
                   .last_lsn = change.commit_lsn,
                   .min_commit_time = change.commit_time,
                   .max_commit_time = change.commit_time};
  file.key = SegmentKey(file.table, file.day, file.first_lsn, file.last_lsn);
  file.local_path = (fs::path(out_dir) / file.key).string();
  std::error_code ec;
  fs::create_directories(fs::path(file.local_path).parent_path(), ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot create " + file.local_path + ": " + ec.message());
  auto written = conn.Query(fmt::format(
      "COPY (SELECT {}{} AS _walden_op, {}::UBIGINT AS _walden_lsn, row_number() OVER () AS "
      "_walden_seq, {}::UINTEGER AS _walden_xid, make_timestamptz({}::BIGINT) AS "
      "_walden_commit_ts, NULL::JSON AS _walden_before, []::VARCHAR[] AS _walden_unchanged "
      "FROM ({})) TO {} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
      columns, QuoteLiteral(std::string(1, change.op)), change.commit_lsn, change.xid,
      change.commit_time, select_sql, QuoteLiteral(file.local_path)));
  if (!written) {
    fs::remove(file.local_path, ec);
    return Wrap(written.error(), "archive segment for " + table.name.Display());
  }
  file.rows = ParseInt64(written->Text(0, 0).value_or("0")).value_or(0);
  if (table.key_column && file.rows > 0) {  // for key look-ups, as flushes record it
    const size_t k = *table.key_column;
    auto range =
        conn.Query(fmt::format("SELECT min({0})::VARCHAR, max({0})::VARCHAR FROM {1}",
                               QuoteIdent(table.columns[k]), QuoteLiteral(file.local_path)));
    if (!range) {
      fs::remove(file.local_path, ec);
      return std::unexpected(range.error());
    }
    if (range->Text(0, 0) && range->Text(0, 1)) {
      file.key_range = KeyRange{.column = table.columns[k],
                                .numeric = table.types[k].kind != TypeKind::kText,
                                .min = *range->Text(0, 0),
                                .max = *range->Text(0, 1)};
    }
  }
  if (auto ok = Fingerprint(conn, file); !ok) return std::unexpected(ok.error());
  return file;
}

namespace {

// The row groups of a Parquet file walden wrote, from its footer (DuckDB's parquet_metadata),
// tiling the file from byte 4 to the footer; empty when the layout is not that (then the
// file is only ever read whole).
Result<std::vector<RowGroupPart>> DescribeRowGroups(duck::Connection& conn, const std::string& path,
                                                    const std::optional<KeyRange>& key) {
  // Parquet's statistics of integers are exact; those of text may be truncated.
  const std::string key_column = key && key->numeric ? QuoteLiteral(key->column) : "NULL";
  constexpr std::string_view kStart =
      "CASE WHEN dictionary_page_offset > 0 THEN dictionary_page_offset ELSE data_page_offset "
      "END";
  auto groups = conn.Query(fmt::format(
      "SELECT min({0})::BIGINT, max({0} + total_compressed_size)::BIGINT, "
      "any_value(row_group_num_rows)::BIGINT, "
      "min(CASE WHEN path_in_schema = '_walden_commit_ts' THEN "
      "epoch_us(TRY_CAST(stats_min_value AS TIMESTAMPTZ)) END), "
      "max(CASE WHEN path_in_schema = '_walden_commit_ts' THEN "
      "epoch_us(TRY_CAST(stats_max_value AS TIMESTAMPTZ)) END), "
      "min(CASE WHEN path_in_schema = '_walden_lsn' THEN TRY_CAST(stats_min_value AS UBIGINT) "
      "END), max(CASE WHEN path_in_schema = '_walden_lsn' THEN "
      "TRY_CAST(stats_max_value AS UBIGINT) END), "
      "min(CASE WHEN path_in_schema = {2} THEN TRY_CAST(stats_min_value AS HUGEINT) END), "
      "max(CASE WHEN path_in_schema = {2} THEN TRY_CAST(stats_max_value AS HUGEINT) END) "
      "FROM parquet_metadata({1}) GROUP BY row_group_id ORDER BY row_group_id",
      kStart, QuoteLiteral(path), key_column));
  if (!groups) return std::unexpected(groups.error());
  std::vector<RowGroupPart> parts;
  int64_t end = 4;  // after the magic "PAR1"
  for (size_t r = 0; r < groups->rows(); ++r) {
    auto number = [&](size_t column) { return ParseInt64(groups->Text(r, column).value_or("")); };
    const auto start = number(0), stop = number(1), rows = number(2);
    const auto min_time = number(3), max_time = number(4);
    const auto min_lsn = ParseUint64(groups->Text(r, 5).value_or(""));
    const auto max_lsn = ParseUint64(groups->Text(r, 6).value_or(""));
    if (!start || !stop || !rows || !min_time || !max_time || !min_lsn || !max_lsn ||
        *start != end || *stop <= *start) {
      return std::vector<RowGroupPart>{};
    }
    if (!parts.empty()) parts.back().length = *start - parts.back().offset;
    parts.push_back({.offset = *start,
                     .length = *stop - *start,
                     .rows = *rows,
                     .min_commit_time = *min_time,
                     .max_commit_time = *max_time,
                     .min_lsn = *min_lsn,
                     .max_lsn = *max_lsn,
                     .key_min = groups->Text(r, 7).value_or(""),
                     .key_max = groups->Text(r, 8).value_or("")});
    if (parts.back().key_min.empty() || parts.back().key_max.empty()) {
      parts.back().key_min.clear();
      parts.back().key_max.clear();
    }
    end = *stop;
  }
  return parts;
}

}  // namespace

Status Fingerprint(duck::Connection& conn, SegmentFile& file) {
  std::error_code ec;
  const auto size = fs::file_size(file.local_path, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot read " + file.local_path + ": " + ec.message());
  file.bytes = static_cast<int64_t>(size);
  auto groups = DescribeRowGroups(conn, file.local_path, file.key_range);
  if (!groups) return std::unexpected(groups.error());
  file.row_groups = std::move(*groups);
  std::vector<int64_t> starts;
  for (const RowGroupPart& group : file.row_groups) starts.push_back(group.offset);
  if (!file.row_groups.empty()) starts.push_back(file.FooterOffset());
  auto digests = Sha256OfFileParts(file.local_path, starts);
  if (!digests) return std::unexpected(digests.error());
  file.sha256 = std::move(digests->front());
  for (size_t i = 0; i < file.row_groups.size(); ++i) {
    file.row_groups[i].sha256 = std::move((*digests)[i + 1]);
  }
  file.footer_sha256 = file.row_groups.empty() ? "" : std::move(digests->back());
  return {};
}

Status Spool::FlushAppenders() {
  for (Spooled& spooled : tables_) {
    if (auto ok = spooled.appender->Flush(); !ok) return ok;
  }
  return {};
}

Result<std::vector<SegmentFile>> Spool::WriteSegments(const std::string& out_dir) {
  if (auto ok = FlushAppenders(); !ok) return std::unexpected(ok.error());
  SealedSpool tables;
  for (const Spooled& spooled : tables_) tables.push_back({spooled.schema, spooled.spool_table});
  return WriteSpoolSegments(conn_, tables, out_dir);
}

Result<SealedSpool> Spool::Seal() {
  if (!sealed_.empty()) return Fail(ErrorKind::kInternal, "the spool is already sealed");
  if (auto ok = FlushAppenders(); !ok) return std::unexpected(ok.error());
  for (Spooled& spooled : tables_) {
    spooled.appender.reset();
    sealed_.push_back({std::move(spooled.schema), std::move(spooled.spool_table)});
  }
  tables_.clear();
  rows_ = 0;
  return sealed_;
}

Status Spool::DropSealed() {
  for (const SpoolTable& table : sealed_) {
    if (auto ok = conn_.Execute("DROP TABLE " + table.name); !ok) return ok;
  }
  sealed_.clear();
  return {};
}

namespace {

// The key column every schema version of a flush agrees on, if it has one KeyRange can hold.
std::optional<KeyRange> KeyOf(const std::vector<const SpoolTable*>& versions) {
  std::optional<KeyRange> key;
  for (const SpoolTable* spooled : versions) {
    const TableSchema& schema = spooled->schema;
    if (!schema.key_column) return std::nullopt;
    const size_t k = *schema.key_column;
    KeyRange range{.column = schema.columns[k], .numeric = schema.types[k].kind != TypeKind::kText};
    if (key && (key->column != range.column || key->numeric != range.numeric)) return std::nullopt;
    key = std::move(range);
  }
  return key;
}

}  // namespace

Result<std::vector<SegmentFile>> WriteSpoolSegments(duck::Connection& conn,
                                                    const SealedSpool& tables,
                                                    const std::string& out_dir) {
  // All schema versions of a table spooled in one flush go into the same files: a
  // transaction that changes rows around an ALTER TABLE has one commit LSN for both
  // versions, and one file name per table-day-range must hold them all.
  std::vector<std::pair<QualifiedName, std::vector<const SpoolTable*>>> by_table;
  for (const SpoolTable& spooled : tables) {
    auto it = std::find_if(by_table.begin(), by_table.end(),
                           [&](const auto& entry) { return entry.first == spooled.schema.name; });
    if (it == by_table.end()) {
      by_table.push_back({spooled.schema.name, {}});
      it = by_table.end() - 1;
    }
    it->second.push_back(&spooled);
  }
  std::vector<SegmentFile> files;
  for (const auto& [name, versions] : by_table) {
    std::string source;
    int version = 0;
    std::vector<std::string> replaced;
    for (const SpoolTable* spooled : versions) {
      source +=
          (source.empty() ? "SELECT * FROM " : " UNION ALL BY NAME SELECT * FROM ") + spooled->name;
      version = std::max(version, spooled->schema.version);
      for (size_t c = 0; c < spooled->schema.columns.size(); ++c) {
        const ColumnType& type = spooled->schema.types[c];
        const TypeKind kind =
            type.kind == TypeKind::kList && type.element ? type.element->kind : type.kind;
        const bool as_text = kind == TypeKind::kInterval || kind == TypeKind::kTimeTz;
        const std::string cast = "CAST(" + QuoteIdent(spooled->schema.columns[c]) + " AS " +
                                 (type.kind == TypeKind::kList ? "VARCHAR[]" : "VARCHAR") +
                                 ") AS " + QuoteIdent(spooled->schema.columns[c]);
        if (as_text && std::find(replaced.begin(), replaced.end(), cast) == replaced.end()) {
          replaced.push_back(cast);
        }
      }
    }
    // Parquet cannot hold two of these types exactly: its INTERVAL has no negative parts
    // ("-1 days") and its TIME drops a TIMETZ's offset. The archive keeps both as DuckDB's
    // text form, which casts back with ::INTERVAL and ::TIMETZ.
    if (!replaced.empty()) {
      std::string list;
      for (const std::string& cast : replaced) list += (list.empty() ? "" : ", ") + cast;
      source = "SELECT * REPLACE (" + list + ") FROM (" + source + ")";
    }
    const std::optional<KeyRange> key = KeyOf(versions);
    const std::string key_sql =
        key ? fmt::format(", min({0})::VARCHAR, max({0})::VARCHAR", QuoteIdent(key->column)) : "";
    auto days = conn.Query(
        "SELECT strftime(_walden_commit_ts, '%Y-%m-%d') AS day, min(_walden_lsn)::VARCHAR, "
        "max(_walden_lsn)::VARCHAR, count(*)::VARCHAR, "
        "min(epoch_us(_walden_commit_ts))::VARCHAR, max(epoch_us(_walden_commit_ts))::VARCHAR" +
        key_sql + " FROM (" + source + ") GROUP BY day ORDER BY day");
    if (!days) return std::unexpected(days.error());
    for (size_t r = 0; r < days->rows(); ++r) {
      auto number = [&](size_t column) { return ParseInt64(days->Text(r, column).value_or("")); };
      auto first = ParseUint64(days->Text(r, 1).value_or(""));
      auto last = ParseUint64(days->Text(r, 2).value_or(""));
      auto rows = number(3), min_time = number(4), max_time = number(5);
      if (!first || !last || !rows || !min_time || !max_time) {
        return Fail(ErrorKind::kInternal,
                    "archive spool of " + name.Display() + ": unexpected positions or times");
      }
      SegmentFile file{.table = name,
                       .schema_version = version,
                       .day = days->Text(r, 0).value_or(""),
                       .first_lsn = *first,
                       .last_lsn = *last,
                       .rows = *rows,
                       .min_commit_time = *min_time,
                       .max_commit_time = *max_time};
      file.key = SegmentKey(file.table, file.day, file.first_lsn, file.last_lsn);
      if (key && days->Text(r, 6) && days->Text(r, 7)) {  // NULL: no row had a key
        file.key_range = *key;
        file.key_range->min = *days->Text(r, 6);
        file.key_range->max = *days->Text(r, 7);
      }
      file.local_path = (fs::path(out_dir) / file.key).string();
      std::error_code ec;
      fs::create_directories(fs::path(file.local_path).parent_path(), ec);
      if (ec) return Fail(ErrorKind::kIo, "cannot create " + file.local_path + ": " + ec.message());
      // One spool table holds its changes in commit order already (appended in stream
      // order; DuckDB keeps insertion order): sorting a large flush again would cost a
      // sort's memory and time. Several schema versions are put back in order.
      const std::string copy =
          "COPY (SELECT * FROM (" + source +
          ") WHERE strftime(_walden_commit_ts, '%Y-%m-%d') = " + QuoteLiteral(file.day) +
          (versions.size() > 1 ? " ORDER BY _walden_lsn, _walden_seq" : "") + ") TO " +
          QuoteLiteral(file.local_path) +
          " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)";
      if (auto ok = conn.Execute(copy); !ok) return std::unexpected(ok.error());
      if (auto ok = Fingerprint(conn, file); !ok) return std::unexpected(ok.error());
      files.push_back(std::move(file));
    }
  }
  return files;
}

Result<std::vector<std::string>> Spool::FillUnchanged(const TableSchema& table,
                                                      const std::vector<std::string>& key_columns,
                                                      const std::vector<std::string>& columns,
                                                      uint64_t commit_lsn, int64_t seq,
                                                      const std::vector<std::string>& history) {
  if (auto ok = FlushAppenders(); !ok) return std::unexpected(ok.error());
  Spooled* target = Find(table);
  if (!target) return Fail(ErrorKind::kInternal, "no spool for " + table.name.Display());
  // Earlier row images of the same table, whatever their schema version.
  std::string sources;
  auto add = [&](const TableSchema& schema, const std::string& name) {
    if (schema.name != table.name) return;
    sources += (sources.empty() ? "SELECT * FROM " : " UNION ALL BY NAME SELECT * FROM ") + name;
  };
  for (const SpoolTable& sealed : sealed_) add(sealed.schema, sealed.name);
  for (const Spooled& spooled : tables_) add(spooled.schema, spooled.spool_table);
  if (!history.empty()) {
    std::string files;
    for (const std::string& path : history)
      files += (files.empty() ? "" : ", ") + QuoteLiteral(path);
    sources +=
        " UNION ALL BY NAME SELECT * FROM read_parquet([" + files + "], union_by_name = true)";
  }
  std::string key_match;
  for (const std::string& key : key_columns) {
    key_match += " AND p." + QuoteIdent(key) + " = s." + QuoteIdent(key);
  }
  const std::string position =
      fmt::format("s._walden_lsn = {} AND s._walden_seq = {}", commit_lsn, seq);
  std::vector<std::string> unfilled;
  for (const std::string& column : columns) {
    const std::string col = QuoteIdent(column);
    const std::string update =
        "UPDATE " + target->spool_table + " AS s SET " + col + " = (SELECT p." + col + " FROM (" +
        sources + ") AS p WHERE p._walden_op IN ('c', 'u', 'r') AND p." + col + " IS NOT NULL" +
        key_match +
        " AND (p._walden_lsn < s._walden_lsn OR (p._walden_lsn = s._walden_lsn AND "
        "p._walden_seq < s._walden_seq)) ORDER BY p._walden_lsn DESC, p._walden_seq DESC "
        "LIMIT 1) WHERE " +
        position;
    if (auto ok = conn_.Execute(update); !ok) return std::unexpected(ok.error());
    auto filled = conn_.Query("SELECT count(*) FROM " + target->spool_table + " AS s WHERE " +
                              position + " AND s." + col + " IS NOT NULL");
    if (!filled) return std::unexpected(filled.error());
    if (filled->Text(0, 0) != "1") unfilled.push_back(column);
  }
  return unfilled;
}

Status Spool::Clear() {
  if (auto ok = DropSealed(); !ok) return ok;
  if (auto sealed = Seal(); !sealed) return std::unexpected(sealed.error());
  return DropSealed();
}

}  // namespace walden::archive
