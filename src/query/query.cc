#include "query/query.h"

#include <fmt/core.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/identifiers.h"
#include "common/units.h"

namespace walden::query {
namespace {

namespace fs = std::filesystem;

std::string Csv(const std::optional<std::string>& value) {
  if (!value) return "";
  if (value->find_first_of(",\"\n\r") == std::string::npos && !value->empty()) return *value;
  std::string out = "\"";
  for (char c : *value) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Display width in code points, so that aligned columns survive non-ASCII text.
size_t Width(const std::string& text) {
  return static_cast<size_t>(std::ranges::count_if(
      text, [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Pad(const std::string& text, size_t width) {
  return text + std::string(width > Width(text) ? width - Width(text) : 0, ' ');
}

}  // namespace

Result<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "csv") return OutputFormat::kCsv;
  if (text == "json") return OutputFormat::kJsonLines;
  return Fail(ErrorKind::kUsage,
              fmt::format("unknown format \"{}\"; use table, csv or json", text));
}

// walden_as_of(t, at) reads the rebuilt state; its arguments chose it before (history.cc).
Status AttachAsOf(duck::Connection& conn, const AsOfTable& as_of) {
  return conn.Execute(
      fmt::format("ATTACH {} AS walden_as_of_state (READ_ONLY); CREATE OR REPLACE TEMP MACRO "
                  "walden_as_of(t, at) AS TABLE SELECT * FROM walden_as_of_state.{}",
                  QuoteLiteral(as_of.path), as_of.table.ToSql()));
}

Status AttachHistory(duck::Connection& conn, const std::vector<HistoryTable>& history) {
  if (auto ok = conn.Execute("ATTACH ':memory:' AS history"); !ok) return ok;
  for (const HistoryTable& table : history) {
    std::string files;
    for (const std::string& file : table.files) {
      files += (files.empty() ? "" : ", ") + QuoteLiteral(file);
    }
    const std::string schema = "history." + QuoteIdent(table.name.schema);
    if (auto ok = conn.Execute(
            // Not hive-partitioned: the folder's dt= would shadow a source column named dt.
            fmt::format("CREATE SCHEMA IF NOT EXISTS {0}; CREATE VIEW {0}.{1} AS SELECT * FROM "
                        "read_parquet([{2}], union_by_name = true, hive_partitioning = false)",
                        schema, QuoteIdent(table.name.name), files));
        !ok) {
      return ok;
    }
  }
  return {};
}

namespace {

// Creates walden_status.<table> for each table, unless the same contents are there already.
Status RefreshStatus(duck::Database& database, duck::Connection& conn,
                     const std::vector<StatusTable>& status) {
  std::string sql = "BEGIN TRANSACTION;\n";
  for (const StatusTable& table : status) {
    const std::string name = "walden_status." + QuoteIdent(table.name);
    std::string columns;
    for (const auto& [column, type] : table.columns) {
      columns += fmt::format("{}{} {}", columns.empty() ? "" : ", ", QuoteIdent(column), type);
    }
    sql += fmt::format("CREATE OR REPLACE TABLE {} ({});\n", name, columns);
    std::string values;
    for (const auto& row : table.rows) {
      std::string cells;
      for (size_t c = 0; c < table.columns.size(); ++c) {
        const bool null = c >= row.size() || !row[c];
        cells +=
            fmt::format("{}{}", c == 0 ? "" : ", ",
                        null ? "NULL" : QuoteLiteral(*row[c]) + "::" + table.columns[c].second);
      }
      values += fmt::format("{}({})", values.empty() ? "" : ", ", cells);
    }
    if (!values.empty()) sql += fmt::format("INSERT INTO {} VALUES {};\n", name, values);
  }
  sql += "COMMIT";
  // The attached database belongs to the instance; queries read its last committed state.
  static std::mutex mutex;
  static std::map<const duck::Database*, std::string> applied;
  std::lock_guard lock(mutex);
  if (applied[&database] == sql) {
    // Unless the database at that address is a newer one than the contents were put in.
    auto attached =
        conn.Query("SELECT 1 FROM duckdb_databases() WHERE database_name = 'walden_status'");
    if (attached && attached->rows() == 1) return {};
  }
  if (auto ok = conn.Execute("ATTACH IF NOT EXISTS ':memory:' AS walden_status"); !ok) return ok;
  if (auto ok = conn.Execute(sql); !ok) {
    (void)conn.Execute("ROLLBACK");
    return ok;
  }
  applied[&database] = std::move(sql);
  return {};
}

constexpr std::string_view kReadOnlyHint =
    "(walden query runs one read-only statement that returns rows: SELECT, FROM, WITH, VALUES, "
    "DESCRIBE, SHOW, SUMMARIZE)";

// The statement DuckDB parses from `sql`, if it is one read: checked by DuckDB's own parser
// and binder, never by looking at the text.
Result<duck::PreparedStatement> PrepareRead(duck::Connection& conn, std::string_view sql) {
  auto prepared = duck::PreparedStatement::Prepare(conn, sql);
  if (!prepared) {
    return Fail(ErrorKind::kUsage, prepared.error().message + "\n" + std::string(kReadOnlyHint));
  }
  if (prepared->kind() != duck::StatementKind::kSelect) {
    return Fail(ErrorKind::kUsage,
                "this is a " + prepared->KindName() + " statement; " + std::string(kReadOnlyHint));
  }
  return prepared;
}

// Formats rows as they stream; the table format needs every row for its widths.
class Output {
 public:
  Output(OutputFormat format, size_t max_bytes) : format_(format), max_bytes_(max_bytes) {}

  Status Names(std::vector<std::string> names) {
    names_ = std::move(names);
    widths_.clear();
    for (const std::string& name : names_) widths_.push_back(Width(name));
    if (format_ == OutputFormat::kCsv) {
      std::vector<std::optional<std::string_view>> cells(names_.begin(), names_.end());
      CsvLine(cells);
    }
    return {};
  }
  Status Row(duck::PreparedStatement::Cells cells) {
    ++rows_;
    if (format_ == OutputFormat::kCsv) {
      CsvLine(cells);
    } else if (format_ == OutputFormat::kJsonLines) {
      nlohmann::ordered_json line = nlohmann::ordered_json::object();
      for (size_t c = 0; c < cells.size(); ++c) {
        line[names_[c]] = cells[c] ? nlohmann::ordered_json(std::string(*cells[c]))
                                   : nlohmann::ordered_json(nullptr);
      }
      out_ += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
      std::vector<std::string> row;
      for (size_t c = 0; c < cells.size(); ++c) {
        row.emplace_back(cells[c] ? *cells[c] : "NULL");
        widths_[c] = std::max(widths_[c], Width(row.back()));
        table_bytes_ += row.back().size() + 3;
      }
      table_.push_back(std::move(row));
    }
    if (out_.size() + table_bytes_ > max_bytes_) {
      return Fail(ErrorKind::kUsage,
                  fmt::format("the result is larger than {} (query.max_result) after {} rows; "
                              "narrow it (WHERE, LIMIT, fewer columns), or copy the mirror "
                              "with `walden mirror export`",
                              FormatSize(static_cast<int64_t>(max_bytes_)), rows_));
    }
    return {};
  }
  std::string Finish() {
    if (format_ != OutputFormat::kTable) return std::move(out_);
    out_ += Line(names_);
    std::string rule;
    for (size_t c = 0; c < widths_.size(); ++c) {
      if (c) rule += "-+-";
      rule.append(widths_[c], '-');
    }
    out_ += rule + "\n";
    for (const auto& row : table_) out_ += Line(row);
    out_ += fmt::format("({} row{})\n", rows_, rows_ == 1 ? "" : "s");
    return std::move(out_);
  }

 private:
  void CsvLine(duck::PreparedStatement::Cells cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) out_ += ',';
      out_ += Csv(cells[c] ? std::optional<std::string>(*cells[c]) : std::nullopt);
    }
    out_ += "\n";
  }
  std::string Line(const std::vector<std::string>& values) const {
    std::string text;
    for (size_t c = 0; c < values.size(); ++c) {
      if (c) text += " | ";
      text += Pad(values[c], widths_[c]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  }

  OutputFormat format_;
  size_t max_bytes_;
  std::vector<std::string> names_;
  std::vector<size_t> widths_;
  std::vector<std::vector<std::string>> table_;
  size_t table_bytes_ = 0;
  size_t rows_ = 0;
  std::string out_;
};

// Interrupts the connection's statement once `timeout` passed or `cancelled` says so, unless
// stopped first.
class Watchdog {
 public:
  enum class Fired { kNo, kTimeout, kCancelled };
  Watchdog(duck::Connection& conn, std::chrono::milliseconds timeout,
           std::function<bool()> cancelled)
      : thread_([this, &conn, timeout, cancelled = std::move(cancelled)] {
          const auto deadline = std::chrono::steady_clock::now() + timeout;
          std::unique_lock lock(mutex_);
          while (!stopped_) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline) {
              fired_ = Fired::kTimeout;
            } else if (cancelled && cancelled()) {
              fired_ = Fired::kCancelled;
            } else {
              stopped_cv_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(100)),
                                     [this] { return stopped_; });
              continue;
            }
            conn.Interrupt();
            return;
          }
        }) {}
  ~Watchdog() { Stop(); }
  // Whether, and why, it interrupted the statement.
  Fired Stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    stopped_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable stopped_cv_;
  bool stopped_ = false;
  Fired fired_ = Fired::kNo;
  std::thread thread_;
};

}  // namespace

Result<std::string> RunQuery(duck::Database& database, const std::string& sql, OutputFormat format,
                             const QueryOptions& options) {
  auto conn = duck::Connection::Open(database);
  if (!conn) return std::unexpected(conn.error());
  if (!options.catalog.empty()) {
    if (auto ok = conn->Execute("USE " + QuoteIdent(options.catalog)); !ok) {
      return std::unexpected(ok.error());
    }
  }
  // An attached database belongs to the whole DuckDB instance, not to the connection: one
  // history query at a time has `history` attached, and it is gone when the query ends.
  std::unique_lock<std::mutex> history_lock;
  struct Detach {
    duck::Connection* conn = nullptr;
    ~Detach() {
      if (conn) {
        (void)conn->Execute("DETACH DATABASE IF EXISTS history");
        (void)conn->Execute("DETACH DATABASE IF EXISTS walden_as_of_state");
      }
    }
  } detach;
  if (!options.history.empty() || options.as_of) {
    static std::mutex history_mutex;
    history_lock = std::unique_lock(history_mutex);
    (void)conn->Execute("DETACH DATABASE IF EXISTS history");
    (void)conn->Execute("DETACH DATABASE IF EXISTS walden_as_of_state");
    detach.conn = &*conn;
    if (!options.history.empty()) {
      if (auto ok = AttachHistory(*conn, options.history); !ok) return std::unexpected(ok.error());
    }
    if (options.as_of) {
      if (auto ok = AttachAsOf(*conn, *options.as_of); !ok) return std::unexpected(ok.error());
    }
  }
  if (!options.status.empty()) {
    if (auto ok = RefreshStatus(database, *conn, options.status); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (auto checked = PrepareRead(*conn, sql); !checked) return std::unexpected(checked.error());
  std::string body = sql;
  while (!body.empty() &&
         (std::isspace(static_cast<unsigned char>(body.back())) || body.back() == ';')) {
    body.pop_back();
  }
  // Every type gets its text form from DuckDB's cast; the wrapped text is checked again, and
  // runs in a transaction that cannot write.
  auto wrapped = PrepareRead(*conn, "SELECT COLUMNS(*)::VARCHAR FROM (" + body + "\n)");
  if (!wrapped) return std::unexpected(wrapped.error());
  if (auto ok = conn->Execute("BEGIN TRANSACTION READ ONLY"); !ok) {
    return std::unexpected(ok.error());
  }
  Output output(format, options.max_bytes);
  Watchdog watchdog(*conn, options.timeout, options.cancelled);
  Status streamed = wrapped->StreamText(
      [&](std::vector<std::string> names) { return output.Names(std::move(names)); },
      [&](duck::PreparedStatement::Cells cells) { return output.Row(cells); });
  const Watchdog::Fired fired = watchdog.Stop();
  (void)conn->Execute("ROLLBACK");
  if (fired == Watchdog::Fired::kCancelled) {
    return Fail(ErrorKind::kUsage, "the query was stopped: its client went away");
  }
  if (fired == Watchdog::Fired::kTimeout) {
    return Fail(
        ErrorKind::kUsage,
        fmt::format(
            "the query ran longer than {} s (query.timeout) and was stopped; narrow it (WHERE, "
            "LIMIT), or query a copy from `walden mirror export`",
            std::chrono::duration_cast<std::chrono::seconds>(options.timeout).count()));
  }
  if (!streamed) {
    if (streamed.error().message.starts_with("the result is larger")) {
      return std::unexpected(streamed.error());
    }
    return Fail(ErrorKind::kUsage, streamed.error().message + "\n" + std::string(kReadOnlyHint));
  }
  return output.Finish();
}

}  // namespace walden::query
