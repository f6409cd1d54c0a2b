// RAII wrappers around DuckDB's C API (duckdb.h), shared by the archive (Parquet writing),
// the mirror and queries. Errors come back as `Error` with DuckDB's own message.
//
// Thread-safety: a Database may be shared by threads, each with its own Connection; a
// Connection and its results belong to one thread at a time (DuckDB's rules).
#pragma once

#include <duckdb.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace walden::duck {

// "v1.4.4"
std::string LibraryVersion();

// DuckDB's error text says the database file is damaged (a corrupt block, a checksum that
// does not match, not a DuckDB file at all).
bool IsDamage(std::string_view message);

class QueryResult {
 public:
  QueryResult() = default;
  QueryResult(QueryResult&&) noexcept;
  QueryResult& operator=(QueryResult&&) noexcept;
  ~QueryResult();

  size_t rows() { return duckdb_row_count(&result_); }
  size_t columns() { return duckdb_column_count(&result_); }
  std::string ColumnName(size_t column) { return duckdb_column_name(&result_, column); }
  bool IsNull(size_t row, size_t column) { return duckdb_value_is_null(&result_, column, row); }
  // DuckDB's text form of a value; nullopt for NULL. Some types (TIMESTAMPTZ, TIMETZ, UUID)
  // have no text form here: cast them to VARCHAR in the query.
  std::optional<std::string> Text(size_t row, size_t column);
  duckdb_result* get() { return &result_; }

 private:
  friend class Connection;
  friend class PreparedStatement;
  duckdb_result result_{};
  bool valid_ = false;
};

class Database;
class Connection;

// What a parsed statement does, as DuckDB's parser and binder see it (only the kinds walden
// distinguishes; the rest are kOther and named by StatementKindName).
enum class StatementKind { kSelect, kExplain, kOther };

// One statement parsed and bound by DuckDB, ready to run. Prepare refuses text that is not
// exactly one statement. Thread-safety: as its Connection.
class PreparedStatement {
 public:
  static Result<PreparedStatement> Prepare(Connection& conn, std::string_view sql);
  PreparedStatement(PreparedStatement&&) noexcept;
  PreparedStatement& operator=(PreparedStatement&&) noexcept;
  ~PreparedStatement();

  StatementKind kind() const;
  // "UPDATE", "COPY", "SET", ... (DuckDB's statement type, for messages).
  std::string KindName() const;
  Result<QueryResult> Execute();
  // Runs it with the result streamed chunk by chunk, never materialized: `on_names` gets the
  // column names once, `on_row` each row's values (nullopt for NULL; the views live until
  // `on_row` returns). Every result column must be VARCHAR. An error from a callback stops
  // the statement and is returned.
  using Cells = std::span<const std::optional<std::string_view>>;
  Status StreamText(const std::function<Status(std::vector<std::string>)>& on_names,
                    const std::function<Status(Cells)>& on_row);

 private:
  PreparedStatement() = default;
  duckdb_prepared_statement prepared_ = nullptr;
};

class Connection {
 public:
  static Result<Connection> Open(Database& database);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  Result<QueryResult> Query(std::string_view sql);
  Status Execute(std::string_view sql);
  // Runs an INSERT, UPDATE or DELETE and returns how many rows it changed.
  Result<int64_t> ExecuteCount(std::string_view sql);
  // DuckDB's worker threads for the whole database (0: its default, one per core).
  Status SetThreads(int threads);
  // Stops the statement running on this connection (from any thread); it fails with
  // DuckDB's "Interrupted" error.
  void Interrupt() { duckdb_interrupt(conn_); }
  duckdb_connection get() { return conn_; }

 private:
  Connection() = default;
  duckdb_connection conn_ = nullptr;
};

class Database {
 public:
  // path: a file, or ":memory:".
  static Result<Database> Open(const std::string& path, bool read_only = false);
  // Contains what SQL run on this database may touch outside it: no file outside
  // `allowed_directories` (DuckDB's enable_external_access = false), no extension installed
  // or loaded on demand. Walden's own statements are bound by it too. Cannot be undone.
  Status Contain(const std::vector<std::string>& allowed_directories);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  duckdb_database get() { return db_; }

 private:
  Database() = default;
  duckdb_database db_ = nullptr;
};

}  // namespace walden::duck
