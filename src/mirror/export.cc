#include "mirror/export.h"

#include <fmt/core.h>

#include <filesystem>

#include "common/identifiers.h"

namespace walden::mirror {

namespace fs = std::filesystem;

Result<ExportFormat> ParseExportFormat(std::string_view text) {
  if (text == "duckdb") return ExportFormat::kDuckDb;
  if (text == "parquet") return ExportFormat::kParquet;
  return Fail(ErrorKind::kUsage,
              fmt::format("unknown export format \"{}\"; use duckdb or parquet", text));
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
    if (auto ok =
            conn->Execute(fmt::format("ATTACH {} AS {} (READ_ONLY); USE {}", QuoteLiteral(path),
                                      QuoteIdent(name), QuoteIdent(name)));
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
    return Fail(ErrorKind::kUsage,
                "export needs a path under mirror.export_dir (" + export_dir + ")");
  }
  std::error_code ec;
  fs::create_directories(export_dir, ec);
  const fs::path root = fs::weakly_canonical(export_dir, ec);
  const fs::path asked =
      fs::path(requested).is_absolute() ? fs::path(requested) : fs::path(export_dir) / requested;
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
                building +
                    " exists (an interrupted export?); walden removes only what it "
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
