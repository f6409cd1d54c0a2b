#include "mirror/query.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/identifiers.h"

namespace walden::mirror {
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

Result<ExportFormat> ParseExportFormat(std::string_view text) {
  if (text == "duckdb") return ExportFormat::kDuckDb;
  if (text == "parquet") return ExportFormat::kParquet;
  return Fail(ErrorKind::kUsage,
              fmt::format("unknown export format \"{}\"; use duckdb or parquet", text));
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
            fmt::format("CREATE SCHEMA IF NOT EXISTS {0}; CREATE VIEW {0}.{1} AS SELECT * FROM "
                        "read_parquet([{2}], union_by_name = true)",
                        schema, QuoteIdent(table.name.name), files));
        !ok) {
      return ok;
    }
  }
  return {};
}

namespace {

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

}  // namespace

Result<std::string> RunQuery(duck::Database& database, const std::string& sql, OutputFormat format,
                             const std::vector<HistoryTable>& history, const std::string& catalog) {
  auto conn = duck::Connection::Open(database);
  if (!conn) return std::unexpected(conn.error());
  if (!catalog.empty()) {
    if (auto ok = conn->Execute("USE " + QuoteIdent(catalog)); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (!history.empty()) {
    if (auto ok = AttachHistory(*conn, history); !ok) return std::unexpected(ok.error());
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
  auto result = wrapped->Execute();
  (void)conn->Execute("ROLLBACK");
  if (!result) {
    return Fail(ErrorKind::kUsage, result.error().message + "\n" + std::string(kReadOnlyHint));
  }
  const size_t columns = result->columns(), rows = result->rows();
  std::vector<std::string> names;
  for (size_t c = 0; c < columns; ++c) names.push_back(result->ColumnName(c));
  std::string out;
  if (format == OutputFormat::kJsonLines) {
    for (size_t r = 0; r < rows; ++r) {
      nlohmann::ordered_json line = nlohmann::ordered_json::object();
      for (size_t c = 0; c < columns; ++c) {
        auto value = result->Text(r, c);
        line[names[c]] = value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
      }
      out += line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    return out;
  }
  if (format == OutputFormat::kCsv) {
    for (size_t c = 0; c < columns; ++c) {
      if (c) out += ',';
      out += Csv(names[c]);
    }
    out += "\n";
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < columns; ++c) {
        if (c) out += ',';
        out += Csv(result->Text(r, c));
      }
      out += "\n";
    }
    return out;
  }
  std::vector<size_t> widths;
  for (const std::string& name : names) widths.push_back(Width(name));
  std::vector<std::vector<std::string>> cells(rows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < columns; ++c) {
      cells[r].push_back(result->Text(r, c).value_or("NULL"));
      widths[c] = std::max(widths[c], Width(cells[r].back()));
    }
  }
  auto line = [&](const std::vector<std::string>& values) {
    std::string text;
    for (size_t c = 0; c < columns; ++c) {
      if (c) text += " | ";
      text += Pad(values[c], widths[c]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  };
  out += line(names);
  std::string rule;
  for (size_t c = 0; c < columns; ++c) {
    if (c) rule += "-+-";
    rule.append(widths[c], '-');
  }
  out += rule + "\n";
  for (const auto& row : cells) out += line(row);
  out += fmt::format("({} row{})\n", rows, rows == 1 ? "" : "s");
  return out;
}

std::string MirrorCatalog(const std::string& path) { return fs::path(path).stem().string(); }

Result<duck::Database> OpenReadOnly(const std::string& path,
                                    const std::vector<std::string>& allowed_directories) {
  auto database = duck::Database::Open(":memory:");
  if (!database) return database;
  {
    auto conn = duck::Connection::Open(*database);
    if (!conn) return std::unexpected(conn.error());
    const std::string name = MirrorCatalog(path);
    if (auto ok = conn->Execute(fmt::format("ATTACH {} AS {} (READ_ONLY); USE {}",
                                            QuoteLiteral(path), QuoteIdent(name),
                                            QuoteIdent(name)));
        !ok) {
      return Fail(ErrorKind::kIo, "cannot open the mirror " + path + ": " + ok.error().message);
    }
    if (auto ok = database->Contain(allowed_directories); !ok) return std::unexpected(ok.error());
    if (auto ok = conn->Execute("SET lock_configuration = true"); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return database;
}

Result<std::string> ExportTarget(const std::string& export_dir, const std::string& requested) {
  if (requested.empty()) {
    return Fail(ErrorKind::kUsage, "export needs a path under mirror.export_dir (" + export_dir +
                                       ")");
  }
  std::error_code ec;
  fs::create_directories(export_dir, ec);
  const fs::path root = fs::weakly_canonical(export_dir, ec);
  const fs::path asked = fs::path(requested).is_absolute() ? fs::path(requested)
                                                           : fs::path(export_dir) / requested;
  const fs::path target = fs::weakly_canonical(asked, ec);
  const fs::path inside = target.lexically_relative(root);
  if (ec || root.empty() || inside.empty() || *inside.begin() == ".." || inside == ".") {
    return Fail(ErrorKind::kUsage,
                fmt::format("a running walden exports only under mirror.export_dir ({}); {} is "
                            "outside it: give a path there, set mirror.export_dir, or stop "
                            "walden and export from the mirror file",
                            export_dir, requested));
  }
  return target.string();
}

Status Export(duck::Database& database, const std::string& path, ExportFormat format,
              bool replace) {
  if (fs::exists(path) && !replace) {
    return Fail(ErrorKind::kUsage,
                path + " exists; export writes a new copy: choose another path, or --replace");
  }
  const std::string building = path + ".partial";
  if (fs::exists(building)) {
    return Fail(ErrorKind::kUsage,
                building + " exists (an interrupted export?); walden removes only what it "
                           "created: delete it yourself, then export again");
  }
  auto conn = duck::Connection::Open(database);
  if (!conn) return std::unexpected(conn.error());
  auto current = conn->Query("SELECT current_database()");
  if (!current) return std::unexpected(current.error());
  const std::string source = current->Text(0, 0).value_or("memory");
  Status done;
  if (format == ExportFormat::kDuckDb) {
    done = conn->Execute(fmt::format(
        "ATTACH {} AS walden_export; COPY FROM DATABASE {} TO walden_export; DETACH walden_export",
        QuoteLiteral(building), QuoteIdent(source)));
  } else {
    done = conn->Execute(fmt::format("EXPORT DATABASE {} (FORMAT parquet, COMPRESSION zstd)",
                                     QuoteLiteral(building)));
  }
  std::error_code ec;
  if (!done) {
    fs::remove_all(building, ec);  // ours: it did not exist before
    return done;
  }
  if (replace && fs::is_directory(path)) fs::remove_all(path, ec);  // asked for explicitly
  fs::rename(building, path, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot move the export to " + path + ": " + ec.message());
  return {};
}

}  // namespace walden::mirror
