#include "pg/assembler.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace walden::pg {
namespace {

using namespace pgoutput;

Tuple Row(std::string_view id) {
  Tuple t;
  t.values.push_back({ValueKind::kText, 0, static_cast<uint32_t>(id.size())});
  t.bytes = std::string(id);
  return t;
}

Relation Rel() {
  return Relation{.relation_id = 7,
                  .schema = "public",
                  .name = "t",
                  .replica_identity = 'd',
                  .columns = {Column{1, "id", 23, -1}}};
}

class AssemblerTest : public ::testing::Test {
 protected:
  std::optional<CommittedTransaction> Feed(Decoded message) {
    auto result = assembler_.Add(std::move(message));
    EXPECT_TRUE(result) << result.error().message;
    return result ? std::move(*result) : std::nullopt;
  }
  static std::vector<std::string> Ids(const CommittedTransaction& txn) {
    std::vector<std::string> ids;
    EXPECT_TRUE(txn.ForEach([&](const Change& c) -> Status {
      if (c.kind == Change::Kind::kInsert) ids.emplace_back(c.new_tuple.Data(0));
      return {};
    }));
    return ids;
  }
  std::string spill_dir_ = ::testing::TempDir() + "/assembler-spill";
  Assembler assembler_{{.memory_limit = 2048, .spill_dir = spill_dir_}};
};

TEST_F(AssemblerTest, PlainTransaction) {
  EXPECT_FALSE(Feed(Begin{Lsn{0x10}, 5, 100}));
  EXPECT_FALSE(Feed(Rel()));
  EXPECT_FALSE(Feed(Insert{std::nullopt, 7, Row("1")}));
  EXPECT_FALSE(assembler_.idle());
  auto txn = Feed(Commit{0, Lsn{0x10}, Lsn{0x20}, 6});
  ASSERT_TRUE(txn);
  EXPECT_EQ(txn->info().xid, 100u);
  EXPECT_EQ(txn->info().end_lsn, Lsn{0x20});
  EXPECT_EQ(txn->info().commit_time, 6);
  EXPECT_EQ(Ids(*txn), (std::vector<std::string>{"1"}));
  EXPECT_TRUE(assembler_.idle());
}

TEST_F(AssemblerTest, PrependedChangesComeFirstAndAppendedLast) {
  EXPECT_FALSE(Feed(Begin{Lsn{0x10}, 5, 100}));
  EXPECT_FALSE(Feed(Rel()));
  EXPECT_FALSE(Feed(Insert{std::nullopt, 7, Row("source")}));
  auto txn = Feed(Commit{0, Lsn{0x10}, Lsn{0x20}, 6});
  ASSERT_TRUE(txn);
  auto insert = [](std::string_view id) {
    return Change{.kind = Change::Kind::kInsert, .new_tuple = Row(id)};
  };
  txn->Append({insert("after")});
  txn->Prepend({insert("before 1"), insert("before 2")});
  EXPECT_EQ(Ids(*txn), (std::vector<std::string>{"before 1", "before 2", "source", "after"}));
  EXPECT_EQ(txn->change_count(), 4u);
}

TEST_F(AssemblerTest, StreamedTransactionSpillsKeepsOrderAndDropsAbortedSubtransactions) {
  Feed(Rel());
  std::vector<std::string> expected;
  for (int segment = 0; segment < 3; ++segment) {
    Feed(StreamStart{42, segment == 0});
    for (int i = 0; i < 100; ++i) {
      const std::string id = std::to_string(segment * 100 + i);
      const uint32_t xid = segment == 1 ? 43 : 42;  // segment 1 is a subtransaction
      Feed(Insert{xid, 7, Row(id)});
      if (segment != 1) expected.push_back(id);
    }
    Feed(StreamStop{});
    // Interleaved, another transaction commits normally.
    Feed(Begin{Lsn{0x30}, 1, 200});
    Feed(Insert{std::nullopt, 7, Row("other")});
    EXPECT_TRUE(Feed(Commit{0, Lsn{0x30}, Lsn{0x31}, 1}));
  }
  EXPECT_GT(assembler_.spilled_bytes(), 0u);
  EXPECT_FALSE(Feed(StreamAbort{42, 43}));
  auto txn = Feed(StreamCommit{42, 0, Lsn{0x100}, Lsn{0x110}, 9});
  ASSERT_TRUE(txn);
  EXPECT_TRUE(txn->info().streamed);
  EXPECT_EQ(Ids(*txn), expected);
  EXPECT_TRUE(assembler_.idle());
}

TEST_F(AssemblerTest, StreamAbortDropsEverythingAndItsSpillFile) {
  Feed(Rel());
  Feed(StreamStart{50, true});
  for (int i = 0; i < 200; ++i) Feed(Insert{50, 7, Row(std::to_string(i))});
  Feed(StreamStop{});
  EXPECT_GT(assembler_.spilled_bytes(), 0u);
  EXPECT_FALSE(Feed(StreamAbort{50, 50}));
  EXPECT_TRUE(assembler_.idle());
  EXPECT_EQ(assembler_.buffered_bytes(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(spill_dir_));
}

TEST_F(AssemblerTest, SchemaChangeTravelsWithTheTransaction) {
  Feed(Rel());
  Feed(Begin{Lsn{0x10}, 5, 100});
  Relation changed = Rel();
  changed.columns.push_back(Column{0, "note", 25, -1});
  Feed(changed);
  auto txn = Feed(Commit{0, Lsn{0x10}, Lsn{0x20}, 6});
  ASSERT_TRUE(txn);
  std::vector<std::string> added;
  ASSERT_TRUE(txn->ForEach([&](const Change& c) -> Status {
    EXPECT_EQ(c.kind, Change::Kind::kSchemaChange);
    EXPECT_EQ(c.relation->version, 2);
    added = c.schema_change.added;
    return {};
  }));
  EXPECT_EQ(added, (std::vector<std::string>{"note"}));
}

// A streamed transaction altered the table (its Relation message inside the stream shows a
// column more); transactions committed meanwhile still use the old layout and PostgreSQL
// sends them no new Relation message. Applying the stream's definition to them read their
// values into the wrong columns (#16 item 7: "cannot read '…' as DECIMAL" on PostgreSQL 17).
TEST_F(AssemblerTest, AStreamsRelationDefinitionStaysInThatStreamUntilItCommits) {
  Feed(Rel());
  Relation altered = Rel();
  altered.xid = 42;
  altered.columns.insert(altered.columns.begin(), Column{0, "added_first", 25, -1});
  Feed(StreamStart{42, true});
  Feed(altered);
  Tuple two;
  two.values = {{ValueKind::kText, 0, 1}, {ValueKind::kText, 1, 2}};
  two.bytes = "x10";
  Feed(Insert{42, 7, two});
  Feed(StreamStop{});
  Feed(Begin{Lsn{0x30}, 1, 200});
  Feed(Insert{std::nullopt, 7, Row("5")});
  auto meanwhile = Feed(Commit{0, Lsn{0x30}, Lsn{0x31}, 1});
  ASSERT_TRUE(meanwhile);
  ASSERT_TRUE(meanwhile->ForEach([&](const Change& c) -> Status {
    EXPECT_EQ(c.relation->columns.size(), 1u);  // the layout its tuple has
    EXPECT_EQ(c.relation->version, 1);
    return {};
  }));
  auto streamed = Feed(StreamCommit{42, 0, Lsn{0x40}, Lsn{0x41}, 2});
  ASSERT_TRUE(streamed);
  size_t inserts = 0;
  ASSERT_TRUE(streamed->ForEach([&](const Change& c) -> Status {
    EXPECT_EQ(c.relation->columns.size(), 2u);
    inserts += c.kind == Change::Kind::kInsert;
    return {};
  }));
  EXPECT_EQ(inserts, 1u);
  // Committed: its definition is the current one for what follows.
  EXPECT_EQ(assembler_.relations().Find(7)->columns.size(), 2u);
  // An aborted stream's definition is forgotten.
  Relation again = Rel();
  again.xid = 50;
  Feed(StreamStart{50, true});
  Feed(again);
  Feed(StreamStop{});
  Feed(StreamAbort{50, 50});
  EXPECT_EQ(assembler_.relations().Find(7)->columns.size(), 2u);
}

TEST_F(AssemblerTest, OutOfOrderStreamsAreErrorsNotCrashes) {
  EXPECT_EQ(assembler_.Add(Commit{}).error().message,
            "pgoutput stream out of order: Commit without Begin");
  EXPECT_EQ(assembler_.Add(Insert{std::nullopt, 7, Row("1")}).error().message,
            "pgoutput stream out of order: change for relation 7 before its Relation");
  Feed(Rel());
  EXPECT_EQ(assembler_.Add(Insert{std::nullopt, 7, Row("1")}).error().message,
            "pgoutput stream out of order: change outside a transaction");
  Feed(StreamStart{9, true});
  EXPECT_EQ(assembler_.Add(StreamAbort{9, 9}).error().message,
            "pgoutput stream out of order: Stream Abort inside a stream block");
  EXPECT_EQ(assembler_.Add(Begin{}).error().message,
            "pgoutput stream out of order: Begin inside a transaction");
  EXPECT_EQ(assembler_.Add(Prepare{}).error().kind, ErrorKind::kUnsupported);
}

}  // namespace
}  // namespace walden::pg
