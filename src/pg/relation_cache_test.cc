#include "pg/relation_cache.h"

#include <gtest/gtest.h>

namespace walden::pg {
namespace {

std::vector<pgoutput::Column> Columns(std::initializer_list<const char*> names) {
  std::vector<pgoutput::Column> out;
  for (const char* name : names) out.push_back({.name = name});
  return out;
}

CatalogAttribute Live(int attnum, const char* name) { return {.attnum = attnum, .name = name}; }
CatalogAttribute Dropped(int attnum) {
  return {.attnum = attnum, .name = "........pg.dropped.x........", .dropped = true};
}

std::vector<int> Attnums(const std::vector<ColumnCatalog>& catalog) {
  std::vector<int> out;
  for (const ColumnCatalog& c : catalog) out.push_back(c.attnum);
  return out;
}

TEST(MatchAttributes, SameNamesMatchDirectly) {
  EXPECT_EQ(
      Attnums(MatchAttributes(Columns({"id", "b"}), {Live(1, "id"), Dropped(2), Live(3, "b")})),
      (std::vector<int>{1, 3}));
}

TEST(MatchAttributes, AnOlderMessageFindsColumnsRenamedOrDroppedSince) {
  // The message lists (id, gone, r, c); since then "gone" was dropped and "r" renamed.
  EXPECT_EQ(Attnums(MatchAttributes(Columns({"id", "gone", "r", "c"}),
                                    {Live(1, "id"), Dropped(2), Live(3, "renamed"), Live(4, "c")})),
            (std::vector<int>{1, 2, 3, 4}));
  // ... and a column added since: the names around the gap still place them.
  EXPECT_EQ(Attnums(MatchAttributes(
                Columns({"id", "gone", "r", "c"}),
                {Live(1, "id"), Dropped(2), Live(3, "renamed"), Live(4, "c"), Live(5, "new")})),
            (std::vector<int>{1, 2, 3, 4}));
}

TEST(MatchAttributes, WhatCannotBeToldApartStaysUnknown) {
  // "x" was renamed and another column added since: at the end both could be it.
  EXPECT_EQ(
      Attnums(MatchAttributes(Columns({"id", "x"}), {Live(1, "id"), Live(2, "y"), Live(3, "z")})),
      (std::vector<int>{1, 0}));
  // A column dropped before the message sits in the same gap as a renamed one.
  EXPECT_EQ(Attnums(MatchAttributes(Columns({"id", "x", "c"}),
                                    {Live(1, "id"), Dropped(2), Live(3, "y"), Live(4, "c")})),
            (std::vector<int>{1, 0, 4}));
  // Names swapped by renames: position decides when nothing was added or dropped.
  EXPECT_EQ(Attnums(MatchAttributes(Columns({"a", "b"}), {Live(1, "b"), Live(2, "a")})),
            (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace walden::pg
