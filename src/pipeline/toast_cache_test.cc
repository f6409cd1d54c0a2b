#include "pipeline/toast_cache.h"

#include <gtest/gtest.h>

namespace walden::pipeline {
namespace {

using Row = std::vector<std::optional<Datum>>;

pg::RelationInfo Accounts(TypeKind doc_kind = TypeKind::kText) {
  pg::RelationInfo relation;
  relation.name = {"public", "accounts"};
  relation.columns = {{.flags = 1, .name = "id"}, {.name = "balance"}, {.name = "doc"}};
  relation.types = {{.kind = TypeKind::kInt64}, {.kind = TypeKind::kInt64}, {.kind = doc_kind}};
  return relation;
}

pg::pgoutput::Tuple KeyTuple(std::string_view id) {
  pg::pgoutput::Tuple tuple;
  tuple.bytes = std::string(id);
  tuple.values = {{pg::pgoutput::ValueKind::kText, 0, static_cast<uint32_t>(id.size())},
                  {pg::pgoutput::ValueKind::kNull, 0, 0},
                  {pg::pgoutput::ValueKind::kUnchangedToast, 0, 0}};
  return tuple;
}

TEST(ToastCache, FillsTheLastValueOfTheSameKeyOnly) {
  const pg::RelationInfo relation = Accounts();
  ToastCache cache(1 << 20);
  const std::string one = ToastCache::KeyOf(relation, KeyTuple("1"));
  const std::string two = ToastCache::KeyOf(relation, KeyTuple("2"));
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
  const pg::RelationInfo relation = Accounts();
  ToastCache cache(1 << 20);
  const std::string key = ToastCache::KeyOf(relation, KeyTuple("1"));
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
  const pg::RelationInfo relation = Accounts();
  ToastCache cache(3 * 1024);
  const std::string big(1000, 'x');
  for (int id = 0; id < 10; ++id) {
    const std::string key = ToastCache::KeyOf(relation, KeyTuple(std::to_string(id)));
    cache.Remember(relation, key, Row{Datum(int64_t{id}), Datum(int64_t{0}), Datum(big)});
    EXPECT_LE(cache.bytes(), 3u * 1024);
  }
  EXPECT_EQ(cache.entries(), 2u);
  Row row{Datum(int64_t{9}), Datum(int64_t{0}), std::nullopt};
  EXPECT_TRUE(cache.Fill(relation, ToastCache::KeyOf(relation, KeyTuple("9")), row));
  Row old{Datum(int64_t{0}), Datum(int64_t{0}), std::nullopt};
  EXPECT_FALSE(cache.Fill(relation, ToastCache::KeyOf(relation, KeyTuple("0")), old));
}

TEST(ToastCache, AKeyThatIsItselfUnchangedIdentifiesNothing) {
  pg::RelationInfo relation = Accounts();
  relation.columns[2].flags = 1;  // doc is part of the key
  EXPECT_EQ(ToastCache::KeyOf(relation, KeyTuple("1")), "");
}

}  // namespace
}  // namespace walden::pipeline
