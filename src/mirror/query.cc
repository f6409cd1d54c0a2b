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

Result<std::string> RunQuery(duck::Database& database, const std::string& sql, OutputFormat format,
                             const std::vector<HistoryTable>& history) {
  auto conn = duck::Connection::Open(database);
  if (!conn) return std::unexpected(conn.error());
  if (!history.empty()) {
    if (auto ok = AttachHistory(*conn, history); !ok) return std::unexpected(ok.error());
  }
  std::string body = sql;
  while (!body.empty() &&
         (std::isspace(static_cast<unsigned char>(body.back())) || body.back() == ';')) {
    body.pop_back();
  }
  auto result = conn->Query("SELECT COLUMNS(*)::VARCHAR FROM (" + body + "\n)");
  if (!result) {
    return Fail(ErrorKind::kUsage,
                result.error().message +
                    "\n(walden query runs one read-only statement that returns rows: SELECT, "
                    "DESCRIBE, SHOW, SUMMARIZE)");
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

Status Export(duck::Database& database, const std::string& path, ExportFormat format) {
  if (fs::exists(path)) {
    return Fail(ErrorKind::kUsage, path + " exists; export writes a new copy, choose another path");
  }
  auto conn = duck::Connection::Open(database);
  if (!conn) return std::unexpected(conn.error());
  auto current = conn->Query("SELECT current_database()");
  if (!current) return std::unexpected(current.error());
  const std::string source = current->Text(0, 0).value_or("memory");
  const std::string building = path + ".partial";
  std::error_code ec;
  fs::remove_all(building, ec);
  Status done;
  if (format == ExportFormat::kDuckDb) {
    done = conn->Execute(fmt::format(
        "ATTACH {} AS walden_export; COPY FROM DATABASE {} TO walden_export; DETACH walden_export",
        QuoteLiteral(building), QuoteIdent(source)));
  } else {
    done = conn->Execute(fmt::format("EXPORT DATABASE {} (FORMAT parquet, COMPRESSION zstd)",
                                     QuoteLiteral(building)));
  }
  if (!done) {
    fs::remove_all(building, ec);
    return done;
  }
  fs::rename(building, path, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot move the export to " + path + ": " + ec.message());
  return {};
}

}  // namespace walden::mirror
