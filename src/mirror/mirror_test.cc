#include "mirror/mirror.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace walden::mirror {
namespace {

using Row = std::vector<std::string>;

const ColumnType kInt{.kind = TypeKind::kInt32, .pg_oid = 23};
const ColumnType kBig{.kind = TypeKind::kInt64, .pg_oid = 20};
const ColumnType kText{.kind = TypeKind::kText, .pg_oid = 25};

change::TableDef Orders() {
  return {.relation_id = 100,
          .name = {"public", "orders"},
          .columns = {{.name = "id", .type = kInt, .key = true, .attnum = 1},
                      {.name = "note", .type = kText, .attnum = 2},
                      {.name = "qty", .type = kInt, .attnum = 3}}};
}

// REPLICA IDENTITY FULL: every column is part of the match.
change::TableDef Events() {
  return {.relation_id = 7,
          .name = {"public", "events"},
          .identity = 'f',
          .columns = {{.name = "kind", .type = kText, .key = true},
                      {.name = "n", .type = kInt, .key = true}}};
}

std::vector<Row> Select(Mirror& mirror, const std::string& sql) {
  auto conn = duck::Connection::Open(mirror.database());
  auto result = conn->Query(sql);
  EXPECT_TRUE(result) << sql << ": " << result.error().message;
  std::vector<Row> rows;
  if (!result) return rows;
  for (size_t r = 0; r < result->rows(); ++r) {
    rows.emplace_back();
    for (size_t c = 0; c < result->columns(); ++c) {
      rows.back().push_back(result->Text(r, c).value_or("NULL"));
    }
  }
  return rows;
}

// Builds one change's spans and keeps them alive for the call.
struct Change {
  char op;
  std::vector<std::optional<Datum>> values;
  std::vector<Datum> before;
};

Status Apply(Mirror& mirror, uint32_t relation, uint64_t lsn, const std::vector<Change>& changes) {
  int64_t seq = 0;
  for (const Change& c : changes) {
    if (auto ok = mirror.Add(
            relation,
            {.op = c.op, .lsn = lsn, .seq = seq++, .values = c.values, .before = c.before});
        !ok) {
      return ok;
    }
  }
  return {};
}

std::optional<Datum> I(int64_t v) { return Datum(v); }
std::optional<Datum> S(const char* v) { return Datum(std::string(v)); }
const std::optional<Datum> kUnchanged = std::nullopt;

// A batch of key changes, deletes, re-inserts, updates.
std::vector<Change> MixedChanges(int64_t padding) {
  std::vector<Change> changes;
  for (int64_t id = 1; id <= padding; ++id) changes.push_back({'c', {I(id), S("new"), I(id)}});
  changes.push_back({'u', {I(1000000), S("moved"), I(1)}, {Datum(int64_t{1})}});
  changes.push_back({'d', {}, {Datum(int64_t{2})}});
  changes.push_back({'d', {}, {Datum(int64_t{3})}});
  changes.push_back({'c', {I(3), S("again"), I(33)}});
  changes.push_back({'u', {I(4), S("first"), I(40)}});
  changes.push_back({'u', {I(4), S("second"), I(41)}});
  changes.push_back({'u', {I(5), S("gone"), I(50)}, {Datum(int64_t{6})}});  // 6 → 5
  return changes;
}

void ExpectMixedChangesMerged(Mirror& m, int64_t padding) {
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders WHERE id <= 6 OR id = 1000000 ORDER BY id"),
            (std::vector<Row>{{"3", "again", "33"},
                              {"4", "second", "41"},
                              {"5", "gone", "50"},
                              {"1000000", "moved", "1"}}))
      << padding;
  EXPECT_EQ(Select(m, "SELECT count(*), count(DISTINCT id) FROM public.orders"),
            (std::vector<Row>{{std::to_string(padding - 2), std::to_string(padding - 2)}}))
      << padding;
}

TEST(Mirror, LastChangePerKeyWinsAndKeyChangesDeleteTheOldKey) {
  auto mirror = Mirror::Open(":memory:");
  ASSERT_TRUE(mirror) << mirror.error().message;
  Mirror& m = **mirror;
  ASSERT_TRUE(m.Define(Orders()));
  ASSERT_TRUE(Apply(m, 100, 10,
                    {{'c', {I(1), S("a"), I(1)}},
                     {'c', {I(2), S("b"), I(2)}},
                     {'c', {I(3), S("c"), I(3)}},
                     {'u', {I(1), S("a2"), I(10)}},
                     {'u', {I(20), S("b"), I(2)}, {Datum(int64_t{2})}},  // key 2 → 20
                     {'d', {}, {Datum(int64_t{3})}},
                     {'c', {I(3), S("c again"), I(33)}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders ORDER BY id"),
            (std::vector<Row>{{"1", "a2", "10"}, {"3", "c again", "33"}, {"20", "b", "2"}}));
  // Across batches: a key moved back, a delete, an update of a row never seen.
  ASSERT_TRUE(Apply(m, 100, 20,
                    {{'u', {I(2), S("b"), I(2)}, {Datum(int64_t{20})}},
                     {'d', {}, {Datum(int64_t{1})}},
                     {'u', {I(7), S("new"), I(7)}}}));
  ASSERT_TRUE(m.Commit({Lsn{20}, Lsn{21}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders ORDER BY id"),
            (std::vector<Row>{{"2", "b", "2"}, {"3", "c again", "33"}, {"7", "new", "7"}}));
  EXPECT_EQ(m.watermark().commit_lsn, Lsn{20});
  const auto tables = m.Tables();
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0].inserts, 4);
  EXPECT_EQ(tables[0].updates, 4);
  EXPECT_EQ(tables[0].deletes, 2);
  EXPECT_EQ(tables[0].state, kStateStreaming);
}

// Small batches pick each key's last change with a grouped max, large ones (a big
// transaction, a catch-up) with a window that spills: both must give the same rows.
TEST(Mirror, SmallAndLargeBatchesMergeAlike) {
  for (const int64_t padding : {int64_t{10}, int64_t{100000}}) {
    auto mirror = Mirror::Open(":memory:");
    ASSERT_TRUE(mirror) << mirror.error().message;
    Mirror& m = **mirror;
    ASSERT_TRUE(m.Define(Orders()));
    ASSERT_TRUE(Apply(m, 100, 10, MixedChanges(padding)));
    ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
    ExpectMixedChangesMerged(m, padding);
  }
}

TEST(Mirror, LoadInsertsAQuerysRowsInOrderWithTheOtherSteps) {
  auto mirror = Mirror::Open(":memory:");
  ASSERT_TRUE(mirror);
  Mirror& m = **mirror;
  EXPECT_EQ(m.Load(100, "SELECT 1").error().message, "mirror: load into an undefined relation");
  ASSERT_TRUE(m.Define(Orders()));
  ASSERT_TRUE(m.Load(100, "SELECT * FROM (VALUES (1, 'a', 1), (2, NULL, 2)) t(c0, c1, c2)"));
  ASSERT_TRUE(Apply(m, 100, 10, {{'u', {I(2), S("b"), I(20)}}}));  // after the load
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders ORDER BY id"),
            (std::vector<Row>{{"1", "a", "1"}, {"2", "b", "20"}}));
  EXPECT_EQ(m.Tables()[0].inserts, 2);
  // A failing query fails the whole batch, watermark included.
  ASSERT_TRUE(m.Load(100, "SELECT 3, 'c', 'not a number'"));
  ASSERT_FALSE(m.Commit({Lsn{20}, Lsn{21}, 0}));
  EXPECT_EQ(m.watermark().commit_lsn, Lsn{10});
  EXPECT_EQ(Select(m, "SELECT count(*) FROM public.orders"), (std::vector<Row>{{"2"}}));
}

TEST(Mirror, UnchangedToastValuesKeepTheCurrentValueThroughChainsAndKeyChanges) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  ASSERT_TRUE(m.Define(Orders()));
  ASSERT_TRUE(
      Apply(m, 100, 10, {{'c', {I(1), S("big one"), I(1)}}, {'c', {I(2), S("big two"), I(2)}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  ASSERT_TRUE(Apply(m, 100, 20,
                    {{'u', {I(1), kUnchanged, I(5)}},  // from the mirror
                     {'u', {I(1), kUnchanged, I(6)}},  // from the change before
                     {'u', {I(9), kUnchanged, I(7)}, {Datum(int64_t{1})}},  // key change
                     {'u', {I(9), kUnchanged, I(8)}},
                     {'c', {I(3), S("three"), I(3)}},
                     {'u', {I(3), kUnchanged, I(4)}},  // from an insert in the batch
                     {'u', {I(2), S("changed"), I(2)}},
                     {'u', {I(2), kUnchanged, I(3)}},
                     {'u', {I(4), kUnchanged, I(4)}}}));  // unknown row: NULL
  ASSERT_TRUE(m.Commit({Lsn{20}, Lsn{21}, 0}));
  EXPECT_EQ(
      Select(m, "SELECT * FROM public.orders ORDER BY id"),
      (std::vector<Row>{
          {"2", "changed", "3"}, {"3", "three", "4"}, {"4", "NULL", "4"}, {"9", "big one", "8"}}));
}

TEST(Mirror, FullRowTablesTouchExactlyOneOfIdenticalRows) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  const change::TableDef def = Events();
  ASSERT_TRUE(m.Define(def));
  const std::vector<Datum> row_x1{Datum(std::string("x")), Datum(int64_t{1})};
  ASSERT_TRUE(Apply(m, 7, 10,
                    {{'c', {S("x"), I(1)}},
                     {'c', {S("x"), I(1)}},
                     {'c', {S("x"), I(1)}},
                     {'d', {}, row_x1},
                     {'u', {kUnchanged, I(2)}, row_x1},
                     {'c', {S("y"), I(1)}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM public.events ORDER BY ALL"),
            (std::vector<Row>{{"x", "1"}, {"x", "2"}, {"y", "1"}}));
  EXPECT_EQ(m.Tables()[0].state, kStateStreaming);
}

TEST(Mirror, TablesWithoutKeyAreAppendOnlyAndSaySo) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  change::TableDef def{.relation_id = 8,
                       .name = {"public", "log"},
                       .identity = 'd',
                       .columns = {{.name = "line", .type = kText}}};
  ASSERT_TRUE(m.Define(def));
  ASSERT_TRUE(Apply(m, 8, 10, {{'c', {S("one")}}, {'c', {S("one")}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  EXPECT_EQ(Select(m, "SELECT count(*) FROM public.log"), (std::vector<Row>{{"2"}}));
  EXPECT_EQ(m.Tables()[0].state, kStateAppendOnly);
}

TEST(Mirror, TruncateEmptiesInOrderWithTheChangesAroundIt) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  ASSERT_TRUE(m.Define(Orders()));
  ASSERT_TRUE(Apply(m, 100, 10, {{'c', {I(1), S("a"), I(1)}}}));
  ASSERT_TRUE(m.Truncate(100));
  ASSERT_TRUE(Apply(m, 100, 11, {{'c', {I(2), S("b"), I(2)}}}));
  ASSERT_TRUE(m.Commit({Lsn{11}, Lsn{12}, 0}));
  EXPECT_EQ(Select(m, "SELECT id FROM public.orders"), (std::vector<Row>{{"2"}}));
  EXPECT_EQ(m.Tables()[0].truncates, 1);
}

// A snapshot's reset drops what came before it, also changes staged in the same batch.
TEST(Mirror, ResetStartsTheTableOverInOrderWithTheChangesAroundIt) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  const change::TableDef def = Events();
  ASSERT_TRUE(m.Define(def));
  ASSERT_TRUE(Apply(m, 7, 10, {{'c', {S("old"), I(1)}}, {'c', {S("x"), I(1)}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  ASSERT_TRUE(Apply(m, 7, 12, {{'c', {S("y"), I(1)}}}));
  ASSERT_TRUE(m.Reset(def));
  ASSERT_TRUE(Apply(m, 7, 13, {{'c', {S("z"), I(1)}}}));
  ASSERT_TRUE(Apply(m, 7, 14, {{'r', {S("x"), I(1)}}, {'r', {S("y"), I(1)}}}));
  ASSERT_TRUE(m.Commit({Lsn{14}, Lsn{15}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM public.events ORDER BY ALL"),
            (std::vector<Row>{{"x", "1"}, {"y", "1"}, {"z", "1"}}));
  EXPECT_EQ(m.Tables()[0].version, 2);
}

// A refill keeps the old copy queryable (also across a reopen) until the new one replaces it.
TEST(Mirror, RefillBuildsBesideTheOldCopyUntilPromoted) {
  const std::string path = ::testing::TempDir() + "/mirror_refill.duckdb";
  std::filesystem::remove(path);
  {
    auto mirror = Mirror::Open(path);
    ASSERT_TRUE(mirror) << mirror.error().message;
    Mirror& m = **mirror;
    ASSERT_TRUE(m.Define(Orders()));
    ASSERT_TRUE(Apply(m, 100, 10, {{'c', {I(1), S("old"), I(1)}}, {'c', {I(2), S("gone"), I(2)}}}));
    ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
    ASSERT_TRUE(m.Reset(Orders(), /*keep_old=*/true));
    ASSERT_TRUE(Apply(m, 100, 12, {{'r', {I(1), S("new"), I(1)}}}));
    ASSERT_TRUE(m.Commit({Lsn{12}, Lsn{13}, 0}));
    EXPECT_EQ(Select(m, "SELECT id, note FROM public.orders ORDER BY id"),
              (std::vector<Row>{{"1", "old"}, {"2", "gone"}}));
    EXPECT_EQ(m.Tables()[0].state, kStateRefilling);
  }
  auto mirror = Mirror::Open(path);
  ASSERT_TRUE(mirror) << mirror.error().message;
  Mirror& m = **mirror;
  EXPECT_EQ(m.Tables()[0].state, kStateRefilling);
  // Changes keep going to the new copy, schema changes included.
  change::TableDef wider = Orders();
  wider.columns.push_back({.name = "extra", .type = kText, .attnum = 4});
  ASSERT_TRUE(m.Define(wider));
  ASSERT_TRUE(Apply(m, 100, 14,
                    {{'r', {I(3), S("new"), I(3), S("x")}},
                     {'u', {I(1), S("newer"), I(1), S("y")}, {Datum(int64_t{1})}}}));
  ASSERT_TRUE(m.Commit({Lsn{14}, Lsn{15}, 0}));
  EXPECT_EQ(Select(m, "SELECT id, note FROM public.orders ORDER BY id"),
            (std::vector<Row>{{"1", "old"}, {"2", "gone"}}));
  ASSERT_TRUE(m.Promote(100));
  ASSERT_TRUE(Apply(m, 100, 16, {{'c', {I(4), S("after"), I(4), S("z")}}}));
  ASSERT_TRUE(m.Commit({Lsn{16}, Lsn{17}, 0}));
  EXPECT_EQ(Select(m, "SELECT id, note, extra FROM public.orders ORDER BY id"),
            (std::vector<Row>{{"1", "newer", "y"}, {"3", "new", "x"}, {"4", "after", "z"}}));
  EXPECT_EQ(m.Tables()[0].state, kStateStreaming);
  EXPECT_EQ(Select(m,
                   "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'walden' AND "
                   "table_name LIKE 'building%'"),
            (std::vector<Row>{{"0"}}));
}

TEST(Mirror, SchemaStepsAddWithStoredDefaultDropWidenAndRename) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  ASSERT_TRUE(m.Define(Orders()));
  ASSERT_TRUE(Apply(m, 100, 10, {{'c', {I(1), S("a"), I(1)}}, {'c', {I(9), S("z"), I(9)}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  // Changes to committed rows and a schema step in one batch (DuckDB refuses to commit an
  // ALTER TABLE after them, so the step rebuilds the table).
  ASSERT_TRUE(Apply(m, 100, 11, {{'d', {}, {Datum(int64_t{9})}}, {'u', {I(1), S("a"), I(1)}}}));
  change::TableDef v2 = Orders();
  v2.columns[2].type = kBig;      // int4 → int8
  v2.columns[1].name = "remark";  // renamed (same attnum)
  v2.columns.push_back({.name = "c",
                        .type = kInt,
                        .attnum = 4,
                        .missing = Datum(int64_t{7}),
                        .missing_text = "7",
                        .has_default = true});
  ASSERT_TRUE(m.Define(v2));
  ASSERT_TRUE(Apply(m, 100, 11, {{'c', {I(2), S("b"), I(5000000000), I(8)}}}));
  change::TableDef v3 = v2;
  v3.columns.erase(v3.columns.begin() + 1);  // drop remark
  ASSERT_TRUE(m.Define(v3));
  ASSERT_TRUE(Apply(m, 100, 12, {{'u', {I(1), I(1), kUnchanged}}}));
  ASSERT_TRUE(m.Commit({Lsn{12}, Lsn{13}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders ORDER BY id"),
            (std::vector<Row>{{"1", "1", "7"}, {"2", "5000000000", "8"}}));
  EXPECT_EQ(Select(m,
                   "SELECT data_type FROM information_schema.columns WHERE table_name = "
                   "'orders' ORDER BY ordinal_position"),
            (std::vector<Row>{{"INTEGER"}, {"BIGINT"}, {"INTEGER"}}));
  EXPECT_EQ(m.Tables()[0].version, 3);
}

TEST(Mirror, RewritingChangesStopTheTableWithTheCommandThatFixesIt) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  ASSERT_TRUE(m.Define(Orders()));
  ASSERT_TRUE(Apply(m, 100, 10, {{'c', {I(1), S("a"), I(1)}}}));
  change::TableDef retyped = Orders();
  retyped.columns[2].type = kText;  // int → text: PostgreSQL rewrote the values
  ASSERT_TRUE(m.Define(retyped));
  ASSERT_TRUE(Apply(m, 100, 11, {{'c', {I(2), S("b"), S("x")}}}));
  ASSERT_TRUE(m.Commit({Lsn{11}, Lsn{12}, 0}));
  const auto tables = m.Tables();
  EXPECT_EQ(tables[0].state, kStateResync);
  EXPECT_EQ(tables[0].reason,
            "column \"qty\" changed type from INTEGER to VARCHAR, which rewrote the table in "
            "PostgreSQL");
  EXPECT_EQ(tables[0].skipped, 1);
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders"), (std::vector<Row>{{"1", "a", "1"}}));

  change::TableDef volatile_default = Orders();
  volatile_default.relation_id = 101;
  volatile_default.name.name = "other";
  ASSERT_TRUE(m.Define(volatile_default));
  ASSERT_TRUE(Apply(m, 101, 12, {{'c', {I(1), S("a"), I(1)}}}));
  volatile_default.columns.push_back({.name = "r", .type = kInt, .attnum = 4, .has_default = true});
  ASSERT_TRUE(m.Define(volatile_default));
  ASSERT_TRUE(m.Commit({Lsn{12}, Lsn{13}, 0}));
  EXPECT_EQ(
      m.Tables()[1].reason,
      "column \"r\" was added with a default PostgreSQL did not store (a volatile default, which "
      "rewrote the table, or a later rewrite cleared it)");
}

TEST(Mirror, HostileNamesAreMirroredAndUnmirrorableOnesSayWhy) {
  auto mirror = Mirror::Open(":memory:");
  Mirror& m = **mirror;
  change::TableDef weird{.relation_id = 1,
                         .name = {"Weird Schema", "Select \"x\""},
                         .columns = {{.name = "from", .type = kInt, .key = true},
                                     {.name = "ünï cödé", .type = kText}}};
  ASSERT_TRUE(m.Define(weird));
  ASSERT_TRUE(Apply(m, 1, 10, {{'c', {I(1), S("x")}}, {'u', {I(1), S("y")}}}));
  change::TableDef reserved{.relation_id = 2,
                            .name = {"walden", "t"},
                            .columns = {{.name = "a", .type = kInt, .key = true}}};
  ASSERT_TRUE(m.Define(reserved));
  ASSERT_TRUE(Apply(m, 2, 10, {{'c', {I(1)}}}));
  ASSERT_TRUE(m.Commit({Lsn{10}, Lsn{11}, 0}));
  EXPECT_EQ(Select(m, "SELECT * FROM \"Weird Schema\".\"Select \"\"x\"\"\""),
            (std::vector<Row>{{"1", "y"}}));
  EXPECT_EQ(m.Tables()[1].reason,
            "schema name \"walden\" is reserved in the mirror; move the table to another schema or "
            "leave it out of source.tables");
}

TEST(Mirror, StateSurvivesReopenAndAFailedBatchLeavesNothing) {
  const std::string path = ::testing::TempDir() + "/mirror_reopen.duckdb";
  std::filesystem::remove(path);
  {
    auto mirror = Mirror::Open(path);
    ASSERT_TRUE(mirror) << mirror.error().message;
    ASSERT_TRUE((*mirror)->Define(Orders()));
    ASSERT_TRUE(Apply(**mirror, 100, 10, {{'c', {I(1), S("a"), I(1)}}}));
    ASSERT_TRUE((*mirror)->Commit({Lsn{10}, Lsn{11}, 1795219200000000}));
    // A batch that cannot apply (wrong value kind) is rolled back as a whole.
    ASSERT_TRUE(Apply(**mirror, 100, 20, {{'c', {I(2), S("b"), I(2)}}}));
    EXPECT_FALSE(Apply(**mirror, 100, 20, {{'c', {I(3), I(3), I(3)}}}));
  }
  auto mirror = Mirror::Open(path);
  ASSERT_TRUE(mirror) << mirror.error().message;
  EXPECT_EQ((*mirror)->watermark().commit_lsn, Lsn{10});
  EXPECT_EQ((*mirror)->watermark().end_lsn, Lsn{11});
  EXPECT_EQ((*mirror)->watermark().commit_time, 1795219200000000);
  EXPECT_EQ(Select(**mirror, "SELECT id FROM public.orders"), (std::vector<Row>{{"1"}}));
  ASSERT_EQ((*mirror)->Tables().size(), 1u);
  EXPECT_EQ((*mirror)->Tables()[0].def.columns[1].name, "note");
}

// Within the default 64 MB: the last try (512 parts) too.
TEST(Mirror, ABatchThatRunsOutOfMemoryIsMergedAgainInParts) {
  for (const auto& [padding, fails_below] : {std::pair{int64_t{10}, 512}, {int64_t{200000}, 8}}) {
    const std::string dir = ::testing::TempDir() + "/mirror_parts";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto mirror = Mirror::Open(dir + "/m.duckdb", {.memory_limit = "64MB",
                                                   .fault_out_of_memory_below_parts = fails_below});
    ASSERT_TRUE(mirror) << mirror.error().message;
    Mirror& m = **mirror;
    ASSERT_TRUE(m.Define(Orders()));
    ASSERT_TRUE(Apply(m, 100, 10, MixedChanges(padding)));
    auto ok = m.Commit({Lsn{10}, Lsn{11}, 0});
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(m.watermark().commit_lsn, Lsn{10});
    ExpectMixedChangesMerged(m, padding);
    EXPECT_EQ(m.Tables()[0].inserts, padding + 1);
  }
}

// More parts than walden tries: the batch fails as before (walden stops, nothing merged).
TEST(Mirror, ABatchThatNeverFitsFailsWithNothingMerged) {
  const std::string path = ::testing::TempDir() + "/mirror_never_fits.duckdb";
  std::filesystem::remove(path);
  {
    auto first = Mirror::Open(path);
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_TRUE((*first)->Define(Orders()));
    ASSERT_TRUE(Apply(**first, 100, 10, {{'c', {I(1), S("a"), I(1)}}}));
    ASSERT_TRUE((*first)->Commit({Lsn{10}, Lsn{11}, 0}));
  }
  auto mirror = Mirror::Open(path, {.fault_out_of_memory_below_parts = 100000});
  ASSERT_TRUE(mirror) << mirror.error().message;
  Mirror& m = **mirror;
  ASSERT_TRUE(Apply(m, 100, 20, {{'u', {I(1), S("b"), I(2)}}}));
  auto failed = m.Commit({Lsn{20}, Lsn{21}, 0});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::kResources);
  EXPECT_EQ(failed.error().message,
            "mirror: merging 1 changes into public.orders: DuckDB: Out of Memory Error: injected");
  EXPECT_EQ(m.watermark().commit_lsn, Lsn{10});
  EXPECT_EQ(Select(m, "SELECT * FROM public.orders"), (std::vector<Row>{{"1", "a", "1"}}));
  EXPECT_FALSE(m.has_pending());
}

}  // namespace
}  // namespace walden::mirror
