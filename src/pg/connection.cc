#include "pg/connection.h"

#include <spdlog/spdlog.h>

#include <array>
#include <vector>

#include "common/redact.h"
#include "common/strings.h"

namespace walden::pg {
namespace {

struct Classified {
  ErrorKind kind;
  std::string_view hint;
};

// libpq reports connection failures as text only; these fragments are stable across
// PostgreSQL 14-17.
Classified ClassifyConnectError(std::string_view message) {
  static constexpr std::pair<std::string_view, Classified> kRules[] = {
      {"password authentication failed",
       {ErrorKind::kAuth, "check the password in PGPASSWORD or ~/.pgpass"}},
      {"no password supplied",
       {ErrorKind::kAuth, "the server wants a password: set PGPASSWORD or add it to ~/.pgpass"}},
      {"no pg_hba.conf entry",
       {ErrorKind::kPermission,
        "allow this client in the server's pg_hba.conf, then SELECT pg_reload_conf()"}},
      {"does not exist", {ErrorKind::kNotFound, "check the user and database names in the URL"}},
      {"timeout expired",
       {ErrorKind::kConnection, "check the host, port and firewall; the server did not answer"}},
      {"could not translate host name", {ErrorKind::kConnection, "check the host name in the URL"}},
  };
  for (const auto& [fragment, classified] : kRules) {
    if (message.find(fragment) != std::string_view::npos) return classified;
  }
  return {ErrorKind::kConnection, ""};
}

ErrorKind ClassifySqlState(std::string_view state) {
  if (state == "42501") return ErrorKind::kPermission;
  if (state == "42P01" || state == "42704" || state == "3D000" || state == "42883") {
    return ErrorKind::kNotFound;
  }
  if (state.starts_with("08") || state.starts_with("57P")) return ErrorKind::kConnection;
  if (state == "0A000") return ErrorKind::kUnsupported;
  return ErrorKind::kInternal;
}

// Server notices (e.g. "table does not exist, skipping") are for the log, not the terminal.
void LogNotice(void*, const char* message) { spdlog::debug("postgres: {}", OneLine(message)); }

}  // namespace

std::string_view PgResult::Value(int row, int column) const {
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          PQgetlength(result_.get(), row, column));
}

Result<int64_t> PgResult::Int(int row, int column) const {
  if (auto value = ParseInt64(Value(row, column))) return *value;
  return Fail(ErrorKind::kProtocol, "PostgreSQL sent \"" + std::string(Value(row, column)) +
                                        "\" for " + ColumnName(column) + ", expected an integer");
}

Result<double> PgResult::Real(int row, int column) const {
  if (auto value = ParseDouble(Value(row, column))) return *value;
  return Fail(ErrorKind::kProtocol, "PostgreSQL sent \"" + std::string(Value(row, column)) +
                                        "\" for " + ColumnName(column) + ", expected a number");
}

std::optional<std::string_view> PgResult::Get(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Value(row, column);
}

Status ValidateConninfo(std::string_view conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &error);
  if (options) {
    PQconninfoFree(options);
    return {};
  }
  std::string message = ScrubConninfo(error ? OneLine(error) : "out of memory", conninfo);
  PQfreemem(error);
  return Fail(ErrorKind::kConfig, "invalid source URL " + RedactConninfo(conninfo) + ": " +
                                      message +
                                      "; expected postgresql://user@host:port/database or "
                                      "\"host=... dbname=...\"");
}

Result<Connection> Connection::Open(std::string_view conninfo, const ConnectOptions& options) {
  if (auto valid = ValidateConninfo(conninfo); !valid) return std::unexpected(valid.error());
  const std::string dbname(conninfo);
  const std::string timeout = std::to_string(options.connect_timeout_seconds);
  // Keywords after dbname override what the connection string says; before it, they are
  // defaults the string may override.
  std::vector<const char*> keys = {"connect_timeout", "dbname", "fallback_application_name"};
  std::vector<const char*> values = {timeout.c_str(), dbname.c_str(), "walden"};
  if (options.replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  if (!options.options.empty()) {
    keys.push_back("options");
    values.push_back(options.options.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!raw) return Fail(ErrorKind::kInternal, "libpq could not allocate a connection");
  const std::string target = RedactConninfo(conninfo);
  if (PQstatus(raw) != CONNECTION_OK) {
    const std::string message = ScrubConninfo(OneLine(PQerrorMessage(raw)), conninfo);
    PQfinish(raw);
    const Classified classified = ClassifyConnectError(message);
    std::string text = "cannot connect to " + target + ": " + message;
    if (!classified.hint.empty()) text += " (" + std::string(classified.hint) + ")";
    return Fail(classified.kind, text);
  }
  PQsetNoticeProcessor(raw, &LogNotice, nullptr);
  return Connection(raw, target);
}

Result<PgResult> Connection::Check(PGresult* raw, std::string_view sql) {
  PgResult result(raw);
  const ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_BOTH ||
      status == PGRES_COPY_OUT || status == PGRES_COPY_IN) {
    return result;
  }
  std::string message;
  ErrorKind kind = ErrorKind::kConnection;
  if (raw && PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY)) {
    message = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
    if (const char* detail = PQresultErrorField(raw, PG_DIAG_MESSAGE_DETAIL)) {
      message += " (" + std::string(detail) + ")";
    }
    if (const char* hint = PQresultErrorField(raw, PG_DIAG_MESSAGE_HINT)) {
      message += "; hint: " + std::string(hint);
    }
    if (const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE)) {
      kind = ClassifySqlState(state);
    }
  } else {
    message = OneLine(PQerrorMessage(conn_.get()));
  }
  std::string statement = OneLine(sql);
  if (statement.size() > 120) statement = statement.substr(0, 117) + "...";
  return Fail(kind, message + " [in: " + statement + "]");
}

Result<PgResult> Connection::Exec(std::string_view sql) {
  return Check(PQexec(conn_.get(), std::string(sql).c_str()), sql);
}

Result<PgResult> Connection::ExecParams(std::string_view sql,
                                        std::span<const std::optional<std::string>> params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return Check(PQexecParams(conn_.get(), std::string(sql).c_str(), static_cast<int>(values.size()),
                            nullptr, values.data(), nullptr, nullptr, 0),
               sql);
}

Status Connection::CopyOut(std::string_view sql,
                           const std::function<Status(std::string_view)>& on_data) {
  auto started = Exec(sql);
  if (!started) return std::unexpected(started.error());
  if (PQresultStatus(started->get()) != PGRES_COPY_OUT) {
    return Fail(ErrorKind::kInternal, "not a COPY TO STDOUT: " + OneLine(sql));
  }
  Status status;
  for (;;) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(conn_.get(), &buffer, 0);
    if (length < 0) break;
    std::unique_ptr<char, decltype(&PQfreemem)> owned(buffer, &PQfreemem);
    if (status) status = on_data(std::string_view(buffer, static_cast<size_t>(length)));
  }
  // The copy's outcome (and the connection's readiness for the next command).
  for (PGresult* raw; (raw = PQgetResult(conn_.get())) != nullptr;) {
    auto checked = Check(raw, sql);
    if (!checked && status) status = std::unexpected(checked.error());
  }
  return status;
}

Result<std::string> Connection::QueryValue(std::string_view sql) {
  auto result = Exec(sql);
  if (!result) return std::unexpected(result.error());
  if (result->rows() != 1 || result->columns() < 1) {
    return Fail(ErrorKind::kInternal, "expected one row from: " + OneLine(sql));
  }
  return std::string(result->Value(0, 0));
}

std::string FormatServerVersion(int version_num) {
  return "PostgreSQL " + std::to_string(version_num / 10000) + "." +
         std::to_string(version_num % 10000);
}

}  // namespace walden::pg
