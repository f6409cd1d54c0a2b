// RAII wrappers around libpq: a connection (normal or `replication=database`) and a query
// result, with errors turned into one-line `Error`s that say what failed and how to fix it.
//
// Connection strings may carry a password; it never appears in an error (targets are shown
// redacted). Thread-safety: a Connection is used by one thread at a time; distinct
// Connections are independent.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace walden::pg {

struct ConnectOptions {
  bool replication = false;  // replication=database: walsender commands and SQL
  int connect_timeout_seconds = 10;
  std::string options;  // libpq "options": server settings for this session ("-c x=y")
  // Longest silence of the server while a query waits for its answer; then the connection
  // is closed and the query fails with a kConnection error. Zero: wait as long as it takes.
  // For connections a loop must not hang on (a network cut acknowledges nothing and resets
  // nothing: only TCP keepalives, minutes later, would notice).
  std::chrono::milliseconds answer_timeout{0};
  // When it turns true, a connection attempt or a query waiting for its answer gives up
  // within ~50 ms (kConnection error, the connection closed): a stop request is honoured
  // even while the server is silent.
  const std::atomic<bool>* interrupt = nullptr;
};

// For connections the run loop uses between rounds (catalog look-ups, heartbeats, the
// snapshot scan): neither connecting nor waiting for an answer may hold the loop longer
// than 2 s, and a raised `stop` ends either at once.
inline ConnectOptions LoopConnectOptions(const std::atomic<bool>* stop) {
  return {
      .connect_timeout_seconds = 2, .answer_timeout = std::chrono::seconds(2), .interrupt = stop};
}

class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  int columns() const { return PQnfields(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column); }
  // The value as text; empty for NULL (check IsNull when it matters).
  std::string_view Value(int row, int column) const;
  std::optional<std::string_view> Get(int row, int column) const;
  // A numeric column's value; a kProtocol error naming the column when the server sent
  // something else (never throws).
  Result<int64_t> Int(int row, int column) const;
  Result<double> Real(int row, int column) const;
  std::string ColumnName(int column) const { return PQfname(result_.get(), column); }
  // Rows an INSERT, UPDATE or DELETE affected.
  int64_t affected() const { return std::atoll(PQcmdTuples(result_.get())); }
  PGresult* get() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

class Connection {
 public:
  static Result<Connection> Open(std::string_view conninfo, const ConnectOptions& options = {});

  Result<PgResult> Exec(std::string_view sql);
  // Text parameters $1..$n; nullopt is SQL NULL.
  Result<PgResult> ExecParams(std::string_view sql,
                              std::span<const std::optional<std::string>> params);
  // Runs `COPY ... TO STDOUT` and hands each data message (one row in text format) to
  // `on_data`; after an error from `on_data` the rest is drained unread and the error returned.
  Status CopyOut(std::string_view sql, const std::function<Status(std::string_view)>& on_data);
  // A single value from a query expected to return one row.
  Result<std::string> QueryValue(std::string_view sql);

  int server_version() const { return PQserverVersion(conn_.get()); }
  std::string user() const { return PQuser(conn_.get()); }
  std::string database() const { return PQdb(conn_.get()); }
  // The server's address as libpq resolved it, for messages.
  std::string target() const { return target_; }
  PGconn* get() const { return conn_.get(); }
  // Ends the session now; later calls fail with a kConnection error.
  void Close() { conn_.reset(); }
  void set_answer_timeout(std::chrono::milliseconds timeout) { answer_timeout_ = timeout; }
  void set_interrupt(const std::atomic<bool>* interrupt) { interrupt_ = interrupt; }

 private:
  Connection(PGconn* conn, std::string target, const ConnectOptions& options)
      : conn_(conn, &PQfinish),
        target_(std::move(target)),
        answer_timeout_(options.answer_timeout),
        interrupt_(options.interrupt) {}
  bool waits_bounded() const { return answer_timeout_.count() > 0 || interrupt_ != nullptr; }
  Result<PgResult> Check(PGresult* result, std::string_view sql);
  // The results of a query sent with `sent` (a PQsend* return value), like PQexec
  // collects them, waiting at most answer_timeout_ for each part of the answer and never
  // past a raised interrupt_.
  Result<PgResult> Await(int sent, std::string_view sql);

  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::string target_;
  std::chrono::milliseconds answer_timeout_;
  const std::atomic<bool>* interrupt_;
};

// Checks that a libpq URL or keyword string parses; the error never echoes a password.
Status ValidateConninfo(std::string_view conninfo);

// "PostgreSQL 15.4" from server_version_num-style 150004.
std::string FormatServerVersion(int version_num);

}  // namespace walden::pg
