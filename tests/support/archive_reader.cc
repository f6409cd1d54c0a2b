#include "tests/support/archive_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "archive/manifest.h"
#include "duck/duckdb.h"

namespace walden::testing {

std::vector<Row> ArchiveRows(store::ObjectStore& from, const std::string& scratch_dir,
                             const std::string& sql) {
  archive::Manifest manifest(from);
  auto state = manifest.Load();
  EXPECT_TRUE(state) << state.error().message;
  if (!state) return {};
  std::string files;
  int n = 0;
  std::filesystem::create_directories(scratch_dir);
  for (const auto& [key, file] : state->live) {
    const std::string path = scratch_dir + "/" + std::to_string(n++) + ".parquet";
    auto data = from.Get(key);
    EXPECT_TRUE(data) << key;
    std::ofstream(path, std::ios::binary) << data.value_or("");
    files += (files.empty() ? "'" : ", '") + path + "'";
  }
  auto db = duck::Database::Open(":memory:");
  auto conn = duck::Connection::Open(*db);
  EXPECT_TRUE(conn->Execute("CREATE VIEW changes AS SELECT * FROM read_parquet([" + files +
                            "], union_by_name = true)"));
  auto result = conn->Query(sql);
  EXPECT_TRUE(result) << sql << ": " << result.error().message;
  std::vector<Row> rows;
  for (size_t r = 0; result && r < result->rows(); ++r) {
    Row row;
    for (size_t c = 0; c < result->columns(); ++c) row.push_back(result->Text(r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace walden::testing
