#include "common/identifiers.h"

#include <gtest/gtest.h>

namespace walden {
namespace {

TableSelector Parse(std::string_view text) {
  auto selector = ParseTableSelector(text);
  EXPECT_TRUE(selector) << text << ": " << selector.error().message;
  return selector.value_or(TableSelector{});
}

TEST(TableSelector, FoldsUnquotedNamesAndKeepsQuotedOnes) {
  EXPECT_EQ(Parse("public.orders"), (TableSelector{"public", "orders"}));
  EXPECT_EQ(Parse("Public.Orders"), (TableSelector{"public", "orders"}));
  EXPECT_EQ(Parse("orders"), (TableSelector{"public", "orders"}));
  EXPECT_EQ(Parse("sales.*"), (TableSelector{"sales", std::nullopt}));
  EXPECT_EQ(Parse(R"("Weird Schema"."Select")"), (TableSelector{"Weird Schema", "Select"}));
  EXPECT_EQ(Parse(R"("a.b"."say ""hi""")"), (TableSelector{"a.b", "say \"hi\""}));
  EXPECT_EQ(Parse("s.\"größe\""), (TableSelector{"s", "größe"}));
  EXPECT_EQ(Parse("public.select"), (TableSelector{"public", "select"}));
}

TEST(TableSelector, ExplainsMistakes) {
  const std::string expected_tail =
      "; expected schema.table, schema.* or a quoted name such as \"My Schema\".\"My Table\"";
  const std::pair<const char*, const char*> cases[] = {
      {"a.b.c", "table selector 'a.b.c': too many dots (quote names that contain dots)"},
      {"\"open.x", "table selector '\"open.x': a double quote is not closed"},
      {"", "table selector '': it is empty"},
      {"*", "table selector '*': '*' needs a schema"},
      {"*.*",
       "table selector '*.*': the schema cannot be '*' (leave tables empty to capture "
       "every table)"},
      {"a.*.b", "table selector 'a.*.b': '*' must be last"},
      {"a b", "table selector 'a b': unexpected character ' '"},
      {"a.", "table selector 'a.': a name is missing"},
      {"\"\".t", "table selector '\"\".t': a quoted name is empty"},
  };
  for (const auto& [text, message] : cases) {
    auto selector = ParseTableSelector(text);
    ASSERT_FALSE(selector) << text;
    EXPECT_EQ(selector.error().message, std::string(message) + expected_tail);
    EXPECT_EQ(selector.error().kind, ErrorKind::kConfig);
  }
}

TEST(TableSelector, Matches) {
  const TableSelector all{"sales", std::nullopt};
  EXPECT_TRUE(all.Matches({"sales", "x"}));
  EXPECT_FALSE(all.Matches({"Sales", "x"}));
  EXPECT_TRUE((TableSelector{"public", "T"}).Matches({"public", "T"}));
  EXPECT_FALSE((TableSelector{"public", "T"}).Matches({"public", "t"}));
}

TEST(Identifiers, QuotingRoundTrips) {
  EXPECT_EQ(QuoteIdent("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(DisplayIdent("orders"), "orders");
  EXPECT_EQ(DisplayIdent("Orders"), "\"Orders\"");
  EXPECT_EQ(DisplayIdent("my table"), "\"my table\"");
  for (const QualifiedName& name : {QualifiedName{"Weird Schema", "Select"},
                                    QualifiedName{"a.b", "x\"y"}, QualifiedName{"public", "t"}}) {
    auto parsed = ParseTableSelector(name.Display());
    ASSERT_TRUE(parsed);
    EXPECT_TRUE(parsed->Matches(name)) << name.Display();
  }
  EXPECT_EQ((QualifiedName{"public", "Orders"}).ToSql(), "\"public\".\"Orders\"");
}

}  // namespace
}  // namespace walden
