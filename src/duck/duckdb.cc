#include "duck/duckdb.h"

#include <utility>

namespace walden::duck {

std::string LibraryVersion() { return duckdb_library_version(); }

QueryResult::QueryResult(QueryResult&& other) noexcept
    : result_(other.result_), valid_(std::exchange(other.valid_, false)) {}

QueryResult& QueryResult::operator=(QueryResult&& other) noexcept {
  if (this != &other) {
    if (valid_) duckdb_destroy_result(&result_);
    result_ = other.result_;
    valid_ = std::exchange(other.valid_, false);
  }
  return *this;
}

QueryResult::~QueryResult() {
  if (valid_) duckdb_destroy_result(&result_);
}

std::optional<std::string> QueryResult::Text(size_t row, size_t column) {
  if (IsNull(row, column)) return std::nullopt;
  char* text = duckdb_value_varchar(&result_, column, row);
  if (!text) return std::nullopt;
  std::string value(text);
  duckdb_free(text);
  return value;
}

Result<Connection> Connection::Open(Database& database) {
  Connection conn;
  if (duckdb_connect(database.get(), &conn.conn_) == DuckDBError) {
    return Fail(ErrorKind::kIo, "cannot connect to DuckDB database");
  }
  return conn;
}

Connection::Connection(Connection&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (conn_) duckdb_disconnect(&conn_);
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

Connection::~Connection() {
  if (conn_) duckdb_disconnect(&conn_);
}

Result<QueryResult> Connection::Query(std::string_view sql) {
  QueryResult result;
  const duckdb_state state = duckdb_query(conn_, std::string(sql).c_str(), &result.result_);
  result.valid_ = true;
  if (state == DuckDBError) {
    const char* message = duckdb_result_error(&result.result_);
    return Fail(ErrorKind::kIo, std::string("DuckDB: ") + (message ? message : "query failed"));
  }
  return result;
}

Status Connection::Execute(std::string_view sql) {
  auto result = Query(sql);
  if (!result) return std::unexpected(result.error());
  return {};
}

Result<int64_t> Connection::ExecuteCount(std::string_view sql) {
  auto result = Query(sql);
  if (!result) return std::unexpected(result.error());
  return static_cast<int64_t>(duckdb_rows_changed(result->get()));
}

Status Connection::SetThreads(int threads) {
  return Execute(threads > 0 ? "SET threads = " + std::to_string(threads) : "RESET threads");
}

Result<Database> Database::Open(const std::string& path, bool read_only) {
  Database database;
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) {
    return Fail(ErrorKind::kInternal, "DuckDB: cannot create a configuration");
  }
  duckdb_set_config(config, "access_mode", read_only ? "READ_ONLY" : "AUTOMATIC");
  char* error = nullptr;
  const duckdb_state state =
      duckdb_open_ext(path == ":memory:" ? nullptr : path.c_str(), &database.db_, config, &error);
  duckdb_destroy_config(&config);
  if (state == DuckDBError) {
    std::string message = error ? error : "unknown error";
    duckdb_free(error);
    return Fail(ErrorKind::kIo, "cannot open DuckDB database " + path + ": " + message);
  }
  return database;
}

Database::Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_) duckdb_close(&db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Database::~Database() {
  if (db_) duckdb_close(&db_);
}

}  // namespace walden::duck
