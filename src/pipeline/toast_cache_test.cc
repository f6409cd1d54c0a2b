#include "pipeline/toast_cache.h"

#include <gtest/gtest.h>

namespace walden::pipeline {
namespace {

using change::Row;

change::TableDef Accounts(TypeKind doc_kind = TypeKind::kText) {
  return {.name = {"public", "accounts"},
          .columns = {{.name = "id", .type = {.kind = TypeKind::kInt64}, .key = true},
                      {.name = "balance", .type = {.kind = TypeKind::kInt64}},
                      {.name = "doc", .type = {.kind = doc_kind}}}};
}

// The key of the row with this id, as an unchanged-TOAST update of it would name it.
std::string KeyOf(const change::TableDef& table, int64_t id) {
  return change::KeyOf(table, Row{Datum(id), Datum(Null{}), std::nullopt});
}

TEST(ToastCache, FillsTheLastValueOfTheSameKeyOnly) {
  const change::TableDef relation = Accounts();
  ToastCache cache(1 << 20);
  const std::string one = KeyOf(relation, 1);
  const std::string two = KeyOf(relation, 2);
  ASSERT_NE(one, two);
  cache.Remember(relation, one, Row{Datum(int64_t{1}), Datum(int64_t{0}), Datum("first")});
  cache.Remember(relation, one, Row{Datum(int64_t{1}), Datum(int64_t{5}), Datum("second")});
  // An update that left the doc alone keeps what the cache knew.
  cache.Remember(relation, one, Row{Datum(int64_t{1}), Datum(int64_t{6}), std::nullopt});
  Row row{Datum(int64_t{1}), Datum(int64_t{7}), std::nullopt};
  ASSERT_TRUE(cache.Fill(relation, one, row));
  EXPECT_EQ(row[2], Datum("second"));
  Row other{Datum(int64_t{2}), Datum(int64_t{7}), std::nullopt};
  EXPECT_FALSE(cache.Fill(relation, two, other));
  EXPECT_FALSE(other[2]);
}

TEST(ToastCache, DeletesTruncatesAndTypeChangesAreMisses) {
  const change::TableDef relation = Accounts();
  ToastCache cache(1 << 20);
  const std::string key = KeyOf(relation, 1);
  auto remember = [&] {
    cache.Remember(relation, key, Row{Datum(int64_t{1}), Datum(int64_t{0}), Datum("doc")});
  };
  Row row{Datum(int64_t{1}), Datum(int64_t{0}), std::nullopt};
  remember();
  cache.Forget(relation.name, key);
  EXPECT_FALSE(cache.Fill(relation, key, row));
  remember();
  cache.ForgetTable(relation.name);
  EXPECT_FALSE(cache.Fill(relation, key, row));
  remember();
  EXPECT_FALSE(cache.Fill(Accounts(TypeKind::kJson), key, row));
  EXPECT_TRUE(cache.Fill(relation, key, row));
}

TEST(ToastCache, StaysWithinItsByteLimitDroppingTheLeastRecentlyUsed) {
  const change::TableDef relation = Accounts();
  ToastCache cache(3 * 1024);
  const std::string big(1000, 'x');
  for (int id = 0; id < 10; ++id) {
    const std::string key = KeyOf(relation, id);
    cache.Remember(relation, key, Row{Datum(int64_t{id}), Datum(int64_t{0}), Datum(big)});
    EXPECT_LE(cache.bytes(), 3u * 1024);
  }
  EXPECT_EQ(cache.entries(), 2u);
  Row row{Datum(int64_t{9}), Datum(int64_t{0}), std::nullopt};
  EXPECT_TRUE(cache.Fill(relation, KeyOf(relation, 9), row));
  Row old{Datum(int64_t{0}), Datum(int64_t{0}), std::nullopt};
  EXPECT_FALSE(cache.Fill(relation, KeyOf(relation, 0), old));
}

}  // namespace
}  // namespace walden::pipeline
