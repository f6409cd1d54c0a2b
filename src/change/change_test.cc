#include "change/change.h"

#include <gtest/gtest.h>

namespace walden::change {
namespace {

TableDef Keyed(std::vector<TypeKind> key_kinds) {
  TableDef table{.name = {"public", "t"}};
  for (size_t i = 0; i < key_kinds.size(); ++i) {
    table.columns.push_back(
        {.name = "k" + std::to_string(i), .type = {.kind = key_kinds[i]}, .key = true});
  }
  table.columns.push_back({.name = "doc", .type = {.kind = TypeKind::kText}});
  return table;
}

TEST(KeyOf, EqualExactlyWhenTheKeyValuesAreEqual) {
  const TableDef two_texts = Keyed({TypeKind::kText, TypeKind::kText});
  const auto key = [&](std::string a, std::string b) {
    return KeyOf(two_texts, Row{Datum(std::move(a)), Datum(std::move(b)), Datum("doc")});
  };
  EXPECT_EQ(key("a", "bc"), key("a", "bc"));
  EXPECT_NE(key("a", "bc"), key("ab", "c"));  // lengths keep the values apart
  EXPECT_EQ(KeyOf(two_texts, Row{Datum("a"), Datum("bc"), std::nullopt}), key("a", "bc"));
  const TableDef one_int = Keyed({TypeKind::kInt64});
  const TableDef one_text = Keyed({TypeKind::kText});
  EXPECT_NE(KeyOf(one_int, Row{Datum(int64_t{1}), std::nullopt}),
            KeyOf(one_text, Row{Datum("1"), std::nullopt}));
  EXPECT_NE(KeyOf(one_int, Row{Datum(int64_t{1}), std::nullopt}),
            KeyOf(one_int, Row{Datum(int64_t{2}), std::nullopt}));
  const TableDef list = Keyed({TypeKind::kList});
  EXPECT_NE(KeyOf(list, Row{Datum(List{{Datum("a"), Datum("b")}}), std::nullopt}),
            KeyOf(list, Row{Datum(List{{Datum("ab")}}), std::nullopt}));
}

TEST(KeyOf, AKeyThatIsMissingOrNullIdentifiesNothing) {
  const TableDef table = Keyed({TypeKind::kInt64, TypeKind::kText});
  EXPECT_EQ(KeyOf(table, Row{Datum(int64_t{1}), std::nullopt, Datum("doc")}), "");
  EXPECT_EQ(KeyOf(table, Row{Datum(int64_t{1}), Datum(Null{}), Datum("doc")}), "");
  EXPECT_EQ(KeyOf(table, Row{Datum(int64_t{1})}), "");
  EXPECT_EQ(KeyOf(Keyed({}), Row{Datum("doc")}), "");
  EXPECT_NE(KeyOf(table, Row{Datum(int64_t{1}), Datum("a"), std::nullopt}), "");
}

TEST(OpCode, TheArchiveAndMirrorCodes) {
  EXPECT_EQ(OpCode(Op::kInsert), 'c');
  EXPECT_EQ(OpCode(Op::kUpdate), 'u');
  EXPECT_EQ(OpCode(Op::kDelete), 'd');
  EXPECT_EQ(OpCode(Op::kRead), 'r');
  EXPECT_EQ(OpCode(Op::kTruncate), 't');
  EXPECT_EQ(OpCode(Op::kReset), 's');
  EXPECT_EQ(OpCode(Op::kRefillStart), 's');
  EXPECT_EQ(OpCode(Op::kMessage), '?');
}

}  // namespace
}  // namespace walden::change
