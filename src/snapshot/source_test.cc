#include "snapshot/source.h"

#include <gtest/gtest.h>

namespace walden::snapshot {
namespace {

SourceTable Orders(double rows, int64_t pages) {
  SourceTable table{.name = {"public", "Order s"}, .estimated_rows = rows, .pages = pages};
  table.relation.columns = {{.flags = 1, .name = "id", .type_oid = 20},
                            {.flags = 0, .name = "note", .type_oid = 25}};
  table.order_key = {0};
  return table;
}

TEST(BoundsQuery, SmallTablesAreCutExactly) {
  EXPECT_EQ(
      BoundsQuery(Orders(500000, 5000), 100000),
      "SELECT \"id\"::text FROM (SELECT \"id\", row_number() OVER (ORDER BY \"id\") AS "
      "walden_rn FROM \"public\".\"Order s\") s WHERE walden_rn % 100000 = 0 ORDER BY walden_rn");
  // Never analyzed: no estimate, so no sample.
  EXPECT_EQ(BoundsQuery(Orders(0, 50000), 100000).find("TABLESAMPLE"), std::string::npos);
}

TEST(BoundsQuery, BigTablesAreCutFromAboutFiftyPagesPerChunk) {
  // 10 chunks of 100,000 rows over 10,000 pages: 500 pages, 5 %, every 5,000th sampled key.
  EXPECT_EQ(
      BoundsQuery(Orders(1000000, 10000), 100000),
      "SELECT \"id\"::text FROM (SELECT \"id\", row_number() OVER (ORDER BY \"id\") AS "
      "walden_rn FROM \"public\".\"Order s\" TABLESAMPLE SYSTEM (5.000000)) s WHERE walden_rn % "
      "5000 = 0 ORDER BY walden_rn");
  // Wide rows (few per page): the sample would be the whole table, so the pass is exact.
  EXPECT_EQ(BoundsQuery(Orders(1000000, 400), 100000).find("TABLESAMPLE"), std::string::npos);
}

}  // namespace
}  // namespace walden::snapshot
