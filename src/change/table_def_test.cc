#include "change/table_def.h"

#include <gtest/gtest.h>

namespace walden::change {
namespace {

TEST(TableDef, JsonRoundTripKeepsTypesKeysAndCatalogFacts) {
  auto element = std::make_shared<ColumnType>(
      ColumnType{.kind = TypeKind::kDecimal, .precision = 10, .scale = 2, .pg_oid = 1700});
  TableDef def{.relation_id = 16384,
               .name = {"Sales", "Order \"Lines\""},
               .identity = 'i',
               .columns = {{.name = "id",
                            .type = {.kind = TypeKind::kInt64, .pg_oid = 20},
                            .key = true,
                            .attnum = 1},
                           {.name = "prices",
                            .type = {.kind = TypeKind::kList, .element = element},
                            .typmod = 655366,
                            .attnum = 3,
                            .missing_text = "{1.50}",
                            .has_default = true}}};
  auto back = TableDefFromJson(TableDefToJson(def));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->SameShape(def));
  EXPECT_EQ(back->relation_id, 16384u);
  EXPECT_EQ(back->identity, 'i');
  EXPECT_EQ(back->columns[1].type.DuckDbName(), "DECIMAL(10,2)[]");
  EXPECT_EQ(back->columns[1].attnum, 3);
  EXPECT_EQ(back->columns[1].missing_text, "{1.50}");
  EXPECT_TRUE(back->columns[1].has_default);
  EXPECT_EQ(back->mode(), MatchMode::kKey);
}

TEST(TableDef, ModeFollowsIdentityAndKeys) {
  TableDef def{.columns = {{.name = "a"}}};
  EXPECT_EQ(def.mode(), MatchMode::kAppendOnly);
  def.identity = 'f';
  EXPECT_EQ(def.mode(), MatchMode::kFullRow);
  def.identity = 'd';
  def.columns[0].key = true;
  EXPECT_EQ(def.mode(), MatchMode::kKey);
}

TEST(TableDef, BrokenJsonSaysSo) {
  auto def = TableDefFromJson("{\"relation_id\": 1}");
  ASSERT_FALSE(def);
  EXPECT_TRUE(def.error().message.starts_with("table definition does not parse: "))
      << def.error().message;
}

}  // namespace
}  // namespace walden::change
