#include "tests/support/duck_reader.h"

#include <gtest/gtest.h>

#include "duck/duckdb.h"

namespace walden::testing {

std::vector<Row> DuckRows(const std::string& path, const std::string& sql) {
  auto db = duck::Database::Open(path, /*read_only=*/path != ":memory:");
  EXPECT_TRUE(db) << (db ? "" : db.error().message);
  if (!db) return {};
  auto conn = duck::Connection::Open(*db);
  EXPECT_TRUE(conn);
  if (!conn) return {};
  auto result = conn->Query(sql);
  EXPECT_TRUE(result) << sql << ": " << (result ? "" : result.error().message);
  std::vector<Row> rows;
  if (!result) return rows;
  for (size_t r = 0; r < result->rows(); ++r) {
    Row row;
    for (size_t c = 0; c < result->columns(); ++c) row.push_back(result->Text(r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace walden::testing
