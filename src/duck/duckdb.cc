#include "duck/duckdb.h"

#include <thread>
#include <utility>

#include "common/thread_name.h"

namespace walden::duck {

std::string LibraryVersion() { return duckdb_library_version(); }

bool IsDamage(std::string_view message) {
  return message.find("orrupt") != std::string_view::npos ||
         message.find("checksum") != std::string_view::npos ||
         message.find("not a valid DuckDB database") != std::string_view::npos;
}

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
    const ErrorKind kind = duckdb_result_error_type(&result.result_) == DUCKDB_ERROR_OUT_OF_MEMORY
                               ? ErrorKind::kResources
                               : ErrorKind::kIo;
    std::string text = message ? message : "query failed";
    // Its hints (threads, insertion order, a larger limit) are settings walden chose.
    if (kind == ErrorKind::kResources) text = text.substr(0, text.find('\n'));
    return Fail(kind, "DuckDB: " + text);
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

namespace {

std::string ListLiteral(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ", ";
    out += "'";
    for (char c : item) out += c == '\'' ? std::string("''") : std::string(1, c);
    out += "'";
  }
  return out + "]";
}

}  // namespace

Result<PreparedStatement> PreparedStatement::Prepare(Connection& conn, std::string_view sql) {
  duckdb_extracted_statements extracted = nullptr;
  const idx_t count = duckdb_extract_statements(conn.get(), std::string(sql).c_str(), &extracted);
  std::unique_ptr<std::remove_pointer_t<duckdb_extracted_statements>,
                  void (*)(duckdb_extracted_statements)>
      owned(extracted, [](duckdb_extracted_statements e) { duckdb_destroy_extracted(&e); });
  if (count == 0) {
    const char* error = extracted ? duckdb_extract_statements_error(extracted) : nullptr;
    return Fail(ErrorKind::kUsage, error ? std::string("DuckDB: ") + error : "no statement");
  }
  if (count != 1) {
    return Fail(ErrorKind::kUsage,
                "the text holds " + std::to_string(count) + " statements; give exactly one");
  }
  PreparedStatement statement;
  if (duckdb_prepare_extracted_statement(conn.get(), extracted, 0, &statement.prepared_) ==
      DuckDBError) {
    const char* error = duckdb_prepare_error(statement.prepared_);
    return Fail(ErrorKind::kUsage, std::string("DuckDB: ") + (error ? error : "cannot prepare"));
  }
  return statement;
}

PreparedStatement::PreparedStatement(PreparedStatement&& other) noexcept
    : prepared_(std::exchange(other.prepared_, nullptr)) {}

PreparedStatement& PreparedStatement::operator=(PreparedStatement&& other) noexcept {
  if (this != &other) {
    if (prepared_) duckdb_destroy_prepare(&prepared_);
    prepared_ = std::exchange(other.prepared_, nullptr);
  }
  return *this;
}

PreparedStatement::~PreparedStatement() {
  if (prepared_) duckdb_destroy_prepare(&prepared_);
}

StatementKind PreparedStatement::kind() const {
  switch (duckdb_prepared_statement_type(prepared_)) {
    case DUCKDB_STATEMENT_TYPE_SELECT:
      return StatementKind::kSelect;
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:
      return StatementKind::kExplain;
    default:
      return StatementKind::kOther;
  }
}

std::string PreparedStatement::KindName() const {
  switch (duckdb_prepared_statement_type(prepared_)) {
    case DUCKDB_STATEMENT_TYPE_SELECT:
      return "SELECT";
    case DUCKDB_STATEMENT_TYPE_INSERT:
      return "INSERT";
    case DUCKDB_STATEMENT_TYPE_UPDATE:
      return "UPDATE";
    case DUCKDB_STATEMENT_TYPE_EXPLAIN:
      return "EXPLAIN";
    case DUCKDB_STATEMENT_TYPE_DELETE:
      return "DELETE";
    case DUCKDB_STATEMENT_TYPE_PREPARE:
      return "PREPARE";
    case DUCKDB_STATEMENT_TYPE_CREATE:
      return "CREATE";
    case DUCKDB_STATEMENT_TYPE_EXECUTE:
      return "EXECUTE";
    case DUCKDB_STATEMENT_TYPE_ALTER:
      return "ALTER";
    case DUCKDB_STATEMENT_TYPE_TRANSACTION:
      return "transaction";
    case DUCKDB_STATEMENT_TYPE_COPY:
      return "COPY";
    case DUCKDB_STATEMENT_TYPE_ANALYZE:
      return "ANALYZE";
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET:
      return "SET";
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC:
      return "CREATE FUNCTION";
    case DUCKDB_STATEMENT_TYPE_DROP:
      return "DROP";
    case DUCKDB_STATEMENT_TYPE_EXPORT:
      return "EXPORT";
    case DUCKDB_STATEMENT_TYPE_PRAGMA:
      return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_VACUUM:
      return "VACUUM";
    case DUCKDB_STATEMENT_TYPE_CALL:
      return "CALL";
    case DUCKDB_STATEMENT_TYPE_SET:
      return "SET";
    case DUCKDB_STATEMENT_TYPE_LOAD:
      return "LOAD";
    case DUCKDB_STATEMENT_TYPE_EXTENSION:
      return "extension";
    case DUCKDB_STATEMENT_TYPE_ATTACH:
      return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_DETACH:
      return "DETACH";
    default:
      return "unknown";
  }
}

Result<QueryResult> PreparedStatement::Execute() {
  QueryResult result;
  const duckdb_state state = duckdb_execute_prepared(prepared_, &result.result_);
  result.valid_ = true;
  if (state == DuckDBError) {
    const char* message = duckdb_result_error(&result.result_);
    return Fail(ErrorKind::kUsage, std::string("DuckDB: ") + (message ? message : "query failed"));
  }
  return result;
}

Status PreparedStatement::StreamText(
    const std::function<Status(std::vector<std::string>)>& on_names,
    const std::function<Status(Cells)>& on_row) {
  QueryResult result;
  const duckdb_state state = duckdb_execute_prepared_streaming(prepared_, &result.result_);
  result.valid_ = true;
  auto failed = [&result]() -> std::optional<std::string> {
    const char* message = duckdb_result_error(&result.result_);
    if (!message) return std::nullopt;
    return std::string("DuckDB: ") + message;
  };
  if (state == DuckDBError) return Fail(ErrorKind::kUsage, failed().value_or("query failed"));
  const idx_t columns = duckdb_column_count(&result.result_);
  std::vector<std::string> names;
  for (idx_t c = 0; c < columns; ++c) {
    if (duckdb_column_type(&result.result_, c) != DUCKDB_TYPE_VARCHAR) {
      return Fail(ErrorKind::kInternal, "StreamText needs VARCHAR columns");
    }
    names.emplace_back(duckdb_column_name(&result.result_, c));
  }
  if (auto ok = on_names(std::move(names)); !ok) return ok;
  std::vector<std::optional<std::string_view>> cells(columns);
  while (true) {
    duckdb_data_chunk chunk = duckdb_fetch_chunk(result.result_);
    if (!chunk) break;
    std::unique_ptr<std::remove_pointer_t<duckdb_data_chunk>, void (*)(duckdb_data_chunk)> owned(
        chunk, [](duckdb_data_chunk c) { duckdb_destroy_data_chunk(&c); });
    const idx_t rows = duckdb_data_chunk_get_size(chunk);
    if (rows == 0) break;
    std::vector<duckdb_string_t*> data(columns);
    std::vector<uint64_t*> validity(columns);
    for (idx_t c = 0; c < columns; ++c) {
      duckdb_vector vector = duckdb_data_chunk_get_vector(chunk, c);
      data[c] = static_cast<duckdb_string_t*>(duckdb_vector_get_data(vector));
      validity[c] = duckdb_vector_get_validity(vector);
    }
    for (idx_t r = 0; r < rows; ++r) {
      for (idx_t c = 0; c < columns; ++c) {
        if (validity[c] && !duckdb_validity_row_is_valid(validity[c], r)) {
          cells[c] = std::nullopt;
        } else {
          cells[c] = std::string_view(duckdb_string_t_data(&data[c][r]),
                                      duckdb_string_t_length(data[c][r]));
        }
      }
      if (auto ok = on_row(cells); !ok) return ok;
    }
  }
  if (auto error = failed()) return Fail(ErrorKind::kUsage, *error);
  return {};
}

Status Database::Contain(const std::vector<std::string>& allowed_directories) {
  auto conn = Connection::Open(*this);
  if (!conn) return std::unexpected(conn.error());
  return conn->Execute(
      "SET autoinstall_known_extensions = false; "
      "SET autoload_known_extensions = false; "
      "SET allow_community_extensions = false; "
      "SET allowed_directories = " +
      ListLiteral(allowed_directories) +
      "; "
      "SET enable_external_access = false");
}

Result<Database> Database::Open(const std::string& path, bool read_only) {
  Database database;
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) {
    return Fail(ErrorKind::kInternal, "DuckDB: cannot create a configuration");
  }
  duckdb_set_config(config, "access_mode", read_only ? "READ_ONLY" : "AUTOMATIC");
  char* error = nullptr;
  duckdb_state state = DuckDBError;
  // Opened on a thread named "duckdb": the workers DuckDB starts now inherit that name.
  std::thread([&] {
    SetThreadName("duckdb");
    state =
        duckdb_open_ext(path == ":memory:" ? nullptr : path.c_str(), &database.db_, config, &error);
  }).join();
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
