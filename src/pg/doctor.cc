#include "pg/doctor.h"

#include <algorithm>
#include <charconv>

#include "common/redact.h"
#include "common/strings.h"
#include "common/units.h"
#include "pg/connection.h"

namespace walden::pg {
namespace {

constexpr int64_t kLagWarnBytes = int64_t{1} << 30;

struct SourceTable {
  QualifiedName name;
  char replident = 'd';
  bool has_pk = false;
  bool can_select = false;
  bool schema_usage = false;
  bool owned = false;
  bool is_partition = false;
  std::string reserved_columns;
};

int64_t ToInt(std::string_view text) {
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::string JoinNames(const std::vector<QualifiedName>& names, size_t limit = 10) {
  std::vector<std::string> shown;
  for (size_t i = 0; i < names.size() && i < limit; ++i) shown.push_back(names[i].Display());
  std::string out = Join(shown, ", ");
  if (names.size() > limit) out += " and " + std::to_string(names.size() - limit) + " more";
  return out;
}

std::string SqlList(const std::vector<QualifiedName>& names) {
  std::vector<std::string> sql;
  for (const QualifiedName& name : names) sql.push_back(name.Display());
  return Join(sql, ", ");
}

class Doctor {
 public:
  Doctor(Connection& conn, const DoctorOptions& options, DoctorReport& report)
      : conn_(conn), options_(options), report_(report) {}

  void Run() {
    CheckVersion();
    CheckWalLevel();
    CheckPrivilege();
    CheckSlotHeadroom();
    CheckSenderHeadroom();
    CheckWalKeepSize();
    const std::vector<SourceTable> tables = CapturedTables();
    CheckTables(tables);
    CheckPublication(tables);
    CheckSlot();
  }

 private:
  void Add(std::string check, Severity severity, std::string message, std::string fix = "") {
    report_.findings.push_back({std::move(check), severity, std::move(message), std::move(fix)});
  }

  // A failed catalog query is reported, never fatal: the other checks still help.
  std::optional<PgResult> Query(std::string_view check, std::string_view sql,
                                std::vector<std::optional<std::string>> params = {}) {
    auto result = conn_.ExecParams(sql, params);
    if (result) return std::move(*result);
    Add(std::string(check), Severity::kWarning, "could not check: " + result.error().message);
    return std::nullopt;
  }

  void CheckVersion() {
    const int version = conn_.server_version();
    report_.server_version = FormatServerVersion(version);
    if (version < 140000) {
      Add("server_version", Severity::kBlocking,
          report_.server_version + " is older than 14, the oldest version walden supports",
          "upgrade the server to PostgreSQL 14 or later");
    } else {
      Add("server_version", Severity::kOk, report_.server_version + " is supported");
    }
  }

  void CheckWalLevel() {
    auto result = Query("wal_level", "SELECT current_setting('wal_level')");
    if (!result) return;
    const std::string level(result->Value(0, 0));
    if (level == "logical") {
      Add("wal_level", Severity::kOk, "wal_level is logical");
    } else {
      Add("wal_level", Severity::kBlocking,
          "wal_level is " + level + "; logical decoding needs logical",
          "ALTER SYSTEM SET wal_level = logical;  -- then restart PostgreSQL (managed services: "
          "rds.logical_replication = 1, cloudsql.logical_decoding = on)");
    }
  }

  void CheckPrivilege() {
    auto result = Query("replication_privilege",
                        "SELECT rolsuper, rolreplication FROM pg_catalog.pg_roles "
                        "WHERE rolname = current_user");
    if (!result || result->rows() != 1) return;
    superuser_ = result->Value(0, 0) == "t";
    const bool replication = superuser_ || result->Value(0, 1) == "t";
    const std::string role = conn_.user();
    if (!replication) {
      Add("replication_privilege", Severity::kBlocking,
          "role " + DisplayIdent(role) + " has neither REPLICATION nor superuser",
          "ALTER ROLE " + QuoteIdent(role) + " WITH REPLICATION;");
      return;
    }
    auto replication_conn = Connection::Open(options_.conninfo, {.replication = true});
    if (replication_conn) {
      auto identify = replication_conn->Exec("IDENTIFY_SYSTEM");
      if (identify) {
        Add("replication_connection", Severity::kOk,
            "role " + DisplayIdent(role) + " can open a replication connection");
        return;
      }
      Add("replication_connection", Severity::kBlocking,
          "replication connection refused IDENTIFY_SYSTEM: " + identify.error().message);
      return;
    }
    Add("replication_connection", Severity::kBlocking,
        "role " + DisplayIdent(role) + " has REPLICATION but a replication connection failed: " +
            replication_conn.error().message,
        "allow the connection in pg_hba.conf (a line for this database and role), then SELECT "
        "pg_reload_conf();");
  }

  void CheckSlotHeadroom() {
    auto result = Query("max_replication_slots",
                        "SELECT current_setting('max_replication_slots')::int, "
                        "(SELECT count(*) FROM pg_catalog.pg_replication_slots), "
                        "EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots "
                        "WHERE slot_name = $1)",
                        {options_.slot});
    if (!result) return;
    Headroom("max_replication_slots", ToInt(result->Value(0, 0)), ToInt(result->Value(0, 1)),
             result->Value(0, 2) == "t" ? 0 : 1);
  }

  // A server limit that walden needs `needed` more of.
  void Headroom(const std::string& setting, int64_t max, int64_t used, int64_t needed) {
    const std::string usage =
        std::to_string(used) + " of " + setting + " = " + std::to_string(max) + " in use";
    if (max - used < needed) {
      Add(setting, Severity::kBlocking, usage + "; walden needs one more",
          "ALTER SYSTEM SET " + setting + " = " + std::to_string(used + 4) +
              ";  -- then restart PostgreSQL");
    } else {
      Add(setting, Severity::kOk, usage);
    }
  }

  void CheckSenderHeadroom() {
    auto result = Query("max_wal_senders",
                        "SELECT current_setting('max_wal_senders')::int, "
                        "(SELECT count(*) FROM pg_catalog.pg_stat_replication)");
    if (!result) return;
    Headroom("max_wal_senders", ToInt(result->Value(0, 0)), ToInt(result->Value(0, 1)), 1);
  }

  void CheckWalKeepSize() {
    auto result =
        Query("max_slot_wal_keep_size", "SELECT current_setting('max_slot_wal_keep_size')");
    if (!result) return;
    const std::string value(result->Value(0, 0));
    if (value == "-1") {
      Add("max_slot_wal_keep_size", Severity::kWarning,
          "max_slot_wal_keep_size is unlimited: if walden stops for long, its slot keeps WAL "
          "until the disk fills",
          "ALTER SYSTEM SET max_slot_wal_keep_size = '64GB'; SELECT pg_reload_conf();");
    } else {
      Add("max_slot_wal_keep_size", Severity::kOk,
          "max_slot_wal_keep_size = " + value + " bounds the WAL a slot may hold");
    }
  }

  std::vector<SourceTable> AllTables() {
    std::vector<SourceTable> tables;
    auto result = Query(
        "tables",
        "SELECT n.nspname, c.relname, c.relreplident, "
        "EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND "
        "(i.indisprimary OR i.indisreplident)), "
        "has_table_privilege(c.oid, 'SELECT'), has_schema_privilege(n.oid, 'USAGE'), "
        "pg_has_role(c.relowner, 'USAGE'), c.relispartition, "
        "(SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a "
        " WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        " AND a.attname LIKE '\\_walden\\_%') "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
        "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
        "AND n.nspname NOT LIKE 'pg\\_temp\\_%' ORDER BY 1, 2");
    if (!result) return tables;
    for (int row = 0; row < result->rows(); ++row) {
      tables.push_back(
          {.name = {std::string(result->Value(row, 0)), std::string(result->Value(row, 1))},
           .replident = result->Value(row, 2).empty() ? 'd' : result->Value(row, 2)[0],
           .has_pk = result->Value(row, 3) == "t",
           .can_select = result->Value(row, 4) == "t",
           .schema_usage = result->Value(row, 5) == "t",
           .owned = result->Value(row, 6) == "t",
           .is_partition = result->Value(row, 7) == "t",
           .reserved_columns = std::string(result->Value(row, 8))});
    }
    return tables;
  }

  std::vector<SourceTable> CapturedTables() {
    std::vector<SourceTable> all = AllTables();
    if (options_.tables.empty()) {
      std::erase_if(all, [](const SourceTable& t) { return t.is_partition; });
      return all;
    }
    std::vector<SourceTable> captured;
    for (const TableSelector& selector : options_.tables) {
      size_t matched = 0;
      for (const SourceTable& table : all) {
        if (!selector.Matches(table.name)) continue;
        ++matched;
        const bool seen = std::any_of(captured.begin(), captured.end(),
                                      [&](const SourceTable& t) { return t.name == table.name; });
        if (!seen) captured.push_back(table);
      }
      if (matched == 0) ReportMissing(selector, all);
    }
    return captured;
  }

  void ReportMissing(const TableSelector& selector, const std::vector<SourceTable>& all) {
    if (!selector.table) {
      Add("tables", Severity::kWarning,
          "source.tables selects " + selector.Display() + " but schema " +
              DisplayIdent(selector.schema) + " has no tables");
      return;
    }
    std::string fix = "check source.tables; quoted names are case-sensitive";
    for (const SourceTable& table : all) {
      if (AsciiLower(table.name.schema) == AsciiLower(selector.schema) &&
          AsciiLower(table.name.name) == AsciiLower(*selector.table)) {
        fix = "did you mean " + table.name.Display() + "? (quote names with capitals)";
      }
    }
    Add("tables", Severity::kBlocking,
        "table " + QualifiedName{selector.schema, *selector.table}.Display() +
            " does not exist (or this role cannot see it)",
        fix);
  }

  void CheckTables(const std::vector<SourceTable>& tables) {
    const std::string role = QuoteIdent(conn_.user());
    size_t keyed = 0;
    for (const SourceTable& table : tables) {
      const std::string sql = table.name.Display();
      if (!table.schema_usage) {
        Add("select_privilege", Severity::kBlocking,
            "role cannot use schema " + DisplayIdent(table.name.schema) + " of " + sql,
            "GRANT USAGE ON SCHEMA " + QuoteIdent(table.name.schema) + " TO " + role + ";");
      } else if (!table.can_select) {
        Add("select_privilege", Severity::kBlocking,
            "role cannot SELECT from " + sql + " (needed for snapshots)",
            "GRANT SELECT ON " + table.name.ToSql() + " TO " + role + ";");
      }
      if (!table.reserved_columns.empty()) {
        Add("reserved_columns", Severity::kBlocking,
            sql + " has columns named like walden's metadata columns (_walden_*): " +
                table.reserved_columns,
            "rename them, e.g. ALTER TABLE " + table.name.ToSql() + " RENAME COLUMN ... TO ...;");
      }
      if (table.replident == 'f') {
        Add("replica_identity", Severity::kInfo,
            sql + " has REPLICA IDENTITY FULL: updates and deletes match the whole old row");
      } else if (table.replident == 'n' || (table.replident == 'd' && !table.has_pk)) {
        Add("replica_identity", Severity::kWarning,
            sql +
                (table.replident == 'n' ? " has REPLICA IDENTITY NOTHING"
                                        : " has no primary key or replica identity") +
                ": once it is in a publication, PostgreSQL rejects UPDATE and DELETE on it "
                "(walden would mirror it append-only)",
            "ALTER TABLE " + table.name.ToSql() + " ADD PRIMARY KEY (...);  -- or: ALTER TABLE " +
                table.name.ToSql() + " REPLICA IDENTITY FULL;");
      } else {
        ++keyed;
      }
    }
    if (keyed > 0) {
      Add("replica_identity", Severity::kOk,
          std::to_string(keyed) + " of " + std::to_string(tables.size()) +
              " captured tables have a primary key or replica identity index");
    } else if (tables.empty() && options_.tables.empty()) {
      Add("tables", Severity::kInfo, "the database has no tables to capture yet");
    }
  }

  void CheckPublication(const std::vector<SourceTable>& tables);
  void ReportMissingPublication(const std::vector<SourceTable>& tables);
  void CheckPublicationCoverage(const std::vector<SourceTable>& tables, bool owns_publication);
  void CheckSlot();

  Connection& conn_;
  const DoctorOptions& options_;
  DoctorReport& report_;
  bool superuser_ = false;
};

void Doctor::CheckPublication(const std::vector<SourceTable>& tables) {
  const std::string pub = QuoteIdent(options_.publication);
  auto result = Query("publication",
                      "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, "
                      "pg_has_role(pubowner, 'USAGE') FROM pg_catalog.pg_publication "
                      "WHERE pubname = $1",
                      {options_.publication});
  if (!result) return;
  if (result->rows() == 0) return ReportMissingPublication(tables);
  const bool all_tables = result->Value(0, 0) == "t";
  const bool owns_publication = result->Value(0, 5) == "t";
  std::vector<std::string> missing_ops;
  static constexpr std::string_view kOps[] = {"insert", "update", "delete", "truncate"};
  for (int i = 0; i < 4; ++i) {
    if (result->Value(0, i + 1) != "t") missing_ops.emplace_back(kOps[i]);
  }
  if (!missing_ops.empty()) {
    Add("publication", Severity::kBlocking,
        "publication " + DisplayIdent(options_.publication) + " does not publish " +
            Join(missing_ops, ", ") + "; those changes would be missed",
        "ALTER PUBLICATION " + pub + " SET (publish = 'insert, update, delete, truncate');");
  }
  if (all_tables) {
    Add("publication", Severity::kOk,
        "publication " + DisplayIdent(options_.publication) + " covers all tables");
    return;
  }
  CheckPublicationCoverage(tables, owns_publication);
}

void Doctor::ReportMissingPublication(const std::vector<SourceTable>& tables) {
  const std::string pub = QuoteIdent(options_.publication);
  std::vector<QualifiedName> names;
  bool owns_all = true;
  for (const SourceTable& table : tables) {
    names.push_back(table.name);
    owns_all &= table.owned;
  }
  const bool all = options_.tables.empty();
  const std::string create = "CREATE PUBLICATION " + pub +
                             (all ? " FOR ALL TABLES;" : " FOR TABLE " + SqlList(names) + ";");
  if (superuser_ || (!all && owns_all)) {
    Add("publication", Severity::kInfo,
        "publication " + DisplayIdent(options_.publication) +
            " does not exist; walden creates it at start",
        create);
  } else {
    Add("publication", Severity::kBlocking,
        "publication " + DisplayIdent(options_.publication) +
            " does not exist and this role may not create it (" +
            (all ? "FOR ALL TABLES needs a superuser" : "it must own every captured table") + ")",
        "run as a superuser or the tables' owner: " + create);
  }
}

void Doctor::CheckPublicationCoverage(const std::vector<SourceTable>& tables,
                                      bool owns_publication) {
  const std::string pub = QuoteIdent(options_.publication);
  auto covered = Query("publication",
                       "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables "
                       "WHERE pubname = $1 ORDER BY 1, 2",
                       {options_.publication});
  if (!covered) return;
  std::vector<QualifiedName> published;
  for (int row = 0; row < covered->rows(); ++row) {
    published.push_back({std::string(covered->Value(row, 0)), std::string(covered->Value(row, 1))});
  }
  std::vector<QualifiedName> absent;
  bool owns_absent = true;
  for (const SourceTable& table : tables) {
    if (std::find(published.begin(), published.end(), table.name) == published.end()) {
      absent.push_back(table.name);
      owns_absent &= table.owned;
    }
  }
  Add("publication", Severity::kOk,
      "publication " + DisplayIdent(options_.publication) + " covers " +
          std::to_string(published.size()) + " tables" +
          (published.empty() ? "" : ": " + JoinNames(published)));
  if (absent.empty()) return;
  const std::string add = "ALTER PUBLICATION " + pub + " ADD TABLE " + SqlList(absent) + ";";
  if (superuser_ || (owns_publication && owns_absent)) {
    Add("publication", Severity::kInfo,
        "captured tables not yet in the publication (walden adds them at start): " +
            JoinNames(absent),
        add);
  } else {
    Add("publication", Severity::kBlocking,
        "captured tables missing from the publication, and this role may not add them: " +
            JoinNames(absent),
        "run as the publication's owner: " + add);
  }
}

void Doctor::CheckSlot() {
  auto result = Query("slot",
                      "SELECT s.plugin, s.slot_type, d.datname, s.active_pid, s.wal_status, "
                      "pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), "
                      "s.confirmed_flush_lsn)::bigint, current_database() "
                      "FROM pg_catalog.pg_replication_slots s "
                      "LEFT JOIN pg_catalog.pg_database d ON d.oid = s.datoid "
                      "WHERE s.slot_name = $1",
                      {options_.slot});
  if (!result) return;
  const std::string slot = options_.slot;
  if (result->rows() == 0) {
    Add("slot", Severity::kInfo,
        "slot " + slot + " does not exist yet; walden creates it at start");
    return;
  }
  const std::string drop = "SELECT pg_drop_replication_slot(" + QuoteLiteral(slot) +
                           ");  -- or choose another name with source.slot";
  if (result->Value(0, 1) != "logical" || result->Value(0, 0) != "pgoutput") {
    Add("slot", Severity::kBlocking,
        "slot " + slot + " exists but is " + std::string(result->Value(0, 1)) + " with plugin " +
            std::string(result->Value(0, 0)) + "; walden needs a logical pgoutput slot",
        drop);
    return;
  }
  if (result->Value(0, 2) != result->Value(0, 6)) {
    Add("slot", Severity::kBlocking,
        "slot " + slot + " belongs to database " + std::string(result->Value(0, 2)) + ", not " +
            std::string(result->Value(0, 6)),
        drop);
    return;
  }
  const std::string status(result->Value(0, 4));
  if (status == "lost") {
    Add("slot", Severity::kBlocking,
        "slot " + slot +
            " is lost: PostgreSQL removed WAL it still needed, so changes are "
            "missing",
        "walden resync  -- new slot and an online snapshot of every captured table");
    return;
  }
  const int64_t lag = ToInt(result->Value(0, 5));
  std::string message =
      "slot " + slot + " exists (wal_status " + status + ", holds " + FormatSize(lag) + " of WAL";
  if (!result->IsNull(0, 3)) message += ", in use by PID " + std::string(result->Value(0, 3));
  message += ")";
  if (status == "unreserved" || lag > kLagWarnBytes) {
    Add("slot", Severity::kWarning,
        message + "; it is close to losing WAL or holding a lot of disk",
        "start walden so it catches up, or raise max_slot_wal_keep_size");
  } else {
    Add("slot", Severity::kOk, message);
  }
}

}  // namespace

bool DoctorReport::Ready() const { return Count(Severity::kBlocking) == 0; }

int DoctorReport::Count(Severity severity) const {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(),
                                        [&](const Finding& f) { return f.severity == severity; }));
}

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kOk:
      return "ok";
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kBlocking:
      return "blocking";
  }
  return "?";
}

Result<DoctorReport> RunDoctor(const DoctorOptions& options) {
  auto conn = Connection::Open(options.conninfo);
  if (!conn) return std::unexpected(conn.error());
  DoctorReport report;
  report.target = RedactConninfo(options.conninfo);
  Doctor(*conn, options, report).Run();
  return report;
}

}  // namespace walden::pg
