#include "pg/connection.h"

#include <fmt/core.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <optional>
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

// A statement as error messages quote it.
std::string ShortStatement(std::string_view sql) {
  std::string statement = OneLine(sql);
  if (statement.size() > 120) statement = statement.substr(0, 117) + "...";
  return statement;
}

enum class Waited { kReady, kTimedOut, kInterrupted };

// Waits for `events` on `socket` until `deadline` (none: for ever), in slices short enough
// to notice a raised `interrupt` within ~50 ms.
Waited WaitForSocket(int socket, short events,
                     std::optional<std::chrono::steady_clock::time_point> deadline,
                     const std::atomic<bool>* interrupt) {
  while (true) {
    if (interrupt && interrupt->load()) return Waited::kInterrupted;
    int slice = interrupt ? 50 : -1;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Waited::kTimedOut;
      slice = slice < 0 ? static_cast<int>(left.count())
                        : std::min(slice, static_cast<int>(left.count()));
    }
    pollfd fd{socket, events, 0};
    const int ready = poll(&fd, 1, slice);
    // A failed poll is left to libpq, which reports the socket's error.
    if (ready > 0 || (ready < 0 && errno != EINTR)) return Waited::kReady;
  }
}

// PQconnectdbParams, but never waiting past the connect timeout (in all, not per host) or a
// raised interrupt. Returns the connection, good or bad; `gave_up` says why it stopped
// early (empty when libpq finished).
PGconn* Connect(const char* const* keys, const char* const* values, const ConnectOptions& options,
                std::string& gave_up) {
  PGconn* raw = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (!raw || PQstatus(raw) == CONNECTION_BAD) return raw;
  std::optional<std::chrono::steady_clock::time_point> deadline;  // libpq: 0 is for ever
  if (options.connect_timeout_seconds > 0) {
    deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options.connect_timeout_seconds);
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
    const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    switch (WaitForSocket(PQsocket(raw), events, deadline, options.interrupt)) {
      case Waited::kTimedOut:
        gave_up = "timeout expired";
        return raw;
      case Waited::kInterrupted:
        gave_up = "stopped while connecting";
        return raw;
      case Waited::kReady:
        break;
    }
    state = PQconnectPoll(raw);
  }
  return raw;
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
  // TCP keepalives and a user timeout notice a dead network within about half a minute
  // instead of the kernel's hours (the connection string may set others).
  std::vector<const char*> keys = {
      "connect_timeout",  "keepalives_idle", "keepalives_interval",      "keepalives_count",
      "tcp_user_timeout", "dbname",          "fallback_application_name"};
  std::vector<const char*> values = {timeout.c_str(), "10",           "5",     "3",
                                     "30000",         dbname.c_str(), "walden"};
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
  std::string gave_up;
  PGconn* raw = Connect(keys.data(), values.data(), options, gave_up);
  if (!raw) return Fail(ErrorKind::kInternal, "libpq could not allocate a connection");
  const std::string target = RedactConninfo(conninfo);
  if (!gave_up.empty() || PQstatus(raw) != CONNECTION_OK) {
    const std::string message =
        gave_up.empty() ? ScrubConninfo(OneLine(PQerrorMessage(raw)), conninfo) : gave_up;
    PQfinish(raw);
    const Classified classified = ClassifyConnectError(message);
    std::string text = "cannot connect to " + target + ": " + message;
    if (!classified.hint.empty()) text += " (" + std::string(classified.hint) + ")";
    return Fail(classified.kind, text);
  }
  PQsetNoticeProcessor(raw, &LogNotice, nullptr);
  return Connection(raw, target, options);
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
  return Fail(kind, message + " [in: " + ShortStatement(sql) + "]");
}

Result<PgResult> Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  if (!waits_bounded()) return Check(PQexec(conn_.get(), text.c_str()), sql);
  return Await(PQsendQuery(conn_.get(), text.c_str()), sql);
}

Result<PgResult> Connection::Await(int sent, std::string_view sql) {
  PGconn* raw = conn_.get();
  if (!sent) return Check(nullptr, sql);
  // False when the server stayed silent or the wait was interrupted: the connection is
  // then closed, as silence cannot be told apart from a dead server and a connection with a
  // query in flight is unusable anyway.
  std::string gave_up;
  auto answered = [&](short events) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (answer_timeout_.count() > 0) deadline = std::chrono::steady_clock::now() + answer_timeout_;
    const Waited waited = WaitForSocket(PQsocket(raw), events, deadline, interrupt_);
    if (waited == Waited::kTimedOut) {
      gave_up = fmt::format("PostgreSQL at {} sent nothing for {} ms (network cut or server hung?)",
                            target_, answer_timeout_.count());
    } else if (waited == Waited::kInterrupted) {
      gave_up = "stopped while waiting for PostgreSQL at " + target_;
    }
    return waited == Waited::kReady;
  };
  auto silent = [&]() -> Result<PgResult> {
    conn_.reset();
    return Fail(ErrorKind::kConnection,
                fmt::format("{}; closed that connection [in: {}]", gave_up, ShortStatement(sql)));
  };
  int flushed = 0;
  while ((flushed = PQflush(raw)) == 1) {
    if (!answered(POLLIN | POLLOUT)) return silent();
    if (!PQconsumeInput(raw)) return Check(nullptr, sql);
  }
  if (flushed < 0) return Check(nullptr, sql);
  // Like PQexec: the last result, or the first error (the server skips the rest).
  std::unique_ptr<PGresult, decltype(&PQclear)> kept(nullptr, &PQclear);
  while (true) {
    while (PQisBusy(raw)) {
      if (!answered(POLLIN)) return silent();
      if (!PQconsumeInput(raw)) return Check(nullptr, sql);
    }
    PGresult* next = PQgetResult(raw);
    if (!next) break;
    const ExecStatusType status = PQresultStatus(next);
    if (kept && PQresultStatus(kept.get()) == PGRES_FATAL_ERROR) {
      PQclear(next);
    } else {
      kept.reset(next);
    }
    if (status == PGRES_COPY_OUT || status == PGRES_COPY_IN || status == PGRES_COPY_BOTH) break;
  }
  return Check(kept.release(), sql);
}

Result<PgResult> Connection::ExecParams(std::string_view sql,
                                        std::span<const std::optional<std::string>> params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text(sql);
  const int count = static_cast<int>(values.size());
  if (!waits_bounded()) {
    return Check(
        PQexecParams(conn_.get(), text.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0),
        sql);
  }
  return Await(PQsendQueryParams(conn_.get(), text.c_str(), count, nullptr, values.data(), nullptr,
                                 nullptr, 0),
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
