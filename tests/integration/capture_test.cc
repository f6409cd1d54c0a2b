// WAL capture end to end: `walden tail` (the real binary) against real PostgreSQL 15/17;
// every change the workload commits comes out once, in commit order, with the right
// content; rolled-back work never does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/lsn.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class CaptureTest : public PgTest {
 protected:
  // Starts `walden tail` for `transactions` transactions, runs `workload`, returns the lines.
  std::vector<json> Tail(int transactions, const std::function<void()>& workload,
                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "tail",       "--source", AdminConninfo(), "--limit", std::to_string(transactions),
        "--data-dir", data_dir()};
    args.insert(args.end(), extra.begin(), extra.end());
    WaldenProcess tail(args);
    EXPECT_TRUE(tail.WaitForLog("tail: streaming from slot", 30s)) << tail.Stderr();
    workload();
    EXPECT_EQ(tail.Wait(120s), 0) << tail.Stderr();
    last_log_ = tail.Stderr();
    std::vector<json> lines;
    for (const std::string& line : tail.StdoutLines()) lines.push_back(json::parse(line));
    return lines;
  }

  std::string last_log_;

  std::string data_dir() const { return ScratchDir(); }

  // The fields that do not depend on timing: op, table, new, old, unchanged.
  static json Content(const json& line) {
    json out = json::object();
    for (const char* key : {"op", "table", "new", "old", "unchanged", "tables", "added", "dropped",
                            "retyped", "prefix", "content"}) {
      if (line.contains(key)) out[key] = line[key];
    }
    return out;
  }
};

TEST_F(CaptureTest, InsertUpdateDeleteTruncateInCommitOrder) {
  Exec("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2))");
  const auto lines = Tail(4, [&] {
    Exec("INSERT INTO items VALUES (1, 'pen', 1.50), (2, NULL, 'NaN')");
    Exec("UPDATE items SET name = 'ink' WHERE id = 2");
    Exec("BEGIN; DELETE FROM items WHERE id = 1; UPDATE items SET id = 3 WHERE id = 2; COMMIT");
    Exec("TRUNCATE items");
  });
  std::vector<json> content;
  for (const json& line : lines) content.push_back(Content(line));
  EXPECT_EQ(content, (std::vector<json>{
                         json{{"op", "c"},
                              {"table", "public.items"},
                              {"new", {{"id", "1"}, {"name", "pen"}, {"price", "1.50"}}}},
                         json{{"op", "c"},
                              {"table", "public.items"},
                              {"new", {{"id", "2"}, {"name", nullptr}, {"price", "NaN"}}}},
                         json{{"op", "u"},
                              {"table", "public.items"},
                              {"new", {{"id", "2"}, {"name", "ink"}, {"price", "NaN"}}}},
                         json{{"op", "d"},
                              {"table", "public.items"},
                              {"old", {{"id", "1"}, {"name", nullptr}, {"price", nullptr}}}},
                         json{{"op", "u"},
                              {"table", "public.items"},
                              {"new", {{"id", "3"}, {"name", "ink"}, {"price", "NaN"}}},
                              {"old", {{"id", "2"}, {"name", nullptr}, {"price", nullptr}}}},
                         json{{"op", "t"}, {"tables", {"public.items"}}},
                     }));
  // One transaction per statement group, in commit order, sequence numbers per transaction.
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0]["xid"], lines[1]["xid"]);
  EXPECT_EQ(lines[1]["seq"], 1);
  EXPECT_EQ(lines[3]["seq"], 0);
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LE(Lsn::Parse(lines[i - 1]["commit_lsn"].get<std::string>()),
              Lsn::Parse(lines[i]["commit_lsn"].get<std::string>()));
  }
}

TEST_F(CaptureTest, RolledBackSubtransactionsAndTransactionsNeverAppear) {
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  const auto lines = Tail(2, [&] {
    Exec(
        "BEGIN; INSERT INTO t VALUES (1); SAVEPOINT a; INSERT INTO t VALUES (2); "
        "ROLLBACK TO a; INSERT INTO t VALUES (3); COMMIT");
    Exec("BEGIN; INSERT INTO t VALUES (4); ROLLBACK");
    Exec("INSERT INTO t VALUES (5)");
  });
  std::vector<std::string> ids;
  for (const json& line : lines) ids.push_back(line["new"]["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "3", "5"}));
}

TEST_F(CaptureTest, ReplicaIdentityFullIndexAndNothing) {
  Exec("CREATE TABLE f (a int, b text); ALTER TABLE f REPLICA IDENTITY FULL");
  Exec(
      "CREATE TABLE i (a int NOT NULL, b text); CREATE UNIQUE INDEX i_a ON i (a); "
      "ALTER TABLE i REPLICA IDENTITY USING INDEX i_a");
  Exec("CREATE TABLE n (a int); ALTER TABLE n REPLICA IDENTITY NOTHING");
  Exec("CREATE TABLE nokey (a int)");
  Exec("INSERT INTO f VALUES (1, 'x'); INSERT INTO i VALUES (1, 'x')");
  const auto lines = Tail(6, [&] {
    Exec("UPDATE f SET b = 'y'");
    Exec("DELETE FROM f");
    Exec("UPDATE i SET a = 2");
    Exec("DELETE FROM i");
    Exec("INSERT INTO n VALUES (7)");
    Exec("INSERT INTO nokey VALUES (8)");
  });
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(Content(lines[0]), (json{{"op", "u"},
                                     {"table", "public.f"},
                                     {"new", {{"a", "1"}, {"b", "y"}}},
                                     {"old", {{"a", "1"}, {"b", "x"}}}}));
  EXPECT_EQ(Content(lines[1]),
            (json{{"op", "d"}, {"table", "public.f"}, {"old", {{"a", "1"}, {"b", "y"}}}}));
  EXPECT_EQ(Content(lines[2]), (json{{"op", "u"},
                                     {"table", "public.i"},
                                     {"new", {{"a", "2"}, {"b", "x"}}},
                                     {"old", {{"a", "1"}, {"b", nullptr}}}}));
  EXPECT_EQ(Content(lines[3]),
            (json{{"op", "d"}, {"table", "public.i"}, {"old", {{"a", "2"}, {"b", nullptr}}}}));
  EXPECT_EQ(Content(lines[4]), (json{{"op", "c"}, {"table", "public.n"}, {"new", {{"a", "7"}}}}));
  EXPECT_EQ(Content(lines[5]),
            (json{{"op", "c"}, {"table", "public.nokey"}, {"new", {{"a", "8"}}}}));
}

TEST_F(CaptureTest, UnchangedToastIsMarkedNotInvented) {
  Exec("CREATE TABLE docs (id int PRIMARY KEY, note text, body text)");
  // ~1 MB that does not compress, so it is stored out of line.
  Exec(
      "INSERT INTO docs SELECT 1, 'a', string_agg(md5(i::text), '') FROM "
      "generate_series(1, 32768) i");
  const auto lines = Tail(1, [&] { Exec("UPDATE docs SET note = 'b'"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Content(lines[0]), (json{{"op", "u"},
                                     {"table", "public.docs"},
                                     {"new", {{"id", "1"}, {"note", "b"}}},
                                     {"unchanged", {"body"}}}));
}

TEST_F(CaptureTest, SchemaChangesAreReportedInOrder) {
  Exec("CREATE TABLE s (id int PRIMARY KEY, a int2, gone text)");
  const auto lines = Tail(4, [&] {
    Exec("INSERT INTO s VALUES (1, 1, 'x')");
    Exec("ALTER TABLE s ADD COLUMN c int NOT NULL DEFAULT 7");
    Exec("INSERT INTO s VALUES (2, 2, 'y', 8)");
    Exec("ALTER TABLE s DROP COLUMN gone, ALTER COLUMN a TYPE int8");
    Exec("UPDATE s SET a = 3 WHERE id = 1");
    Exec("INSERT INTO s VALUES (3, 3, 9)");
  });
  std::vector<json> content;
  for (const json& line : lines) content.push_back(Content(line));
  ASSERT_EQ(content.size(), 6u);
  EXPECT_EQ(content[0]["new"], (json{{"id", "1"}, {"a", "1"}, {"gone", "x"}}));
  EXPECT_EQ(content[1], (json{{"op", "s"},
                              {"table", "public.s"},
                              {"added", {"c"}},
                              {"dropped", json::array()},
                              {"retyped", json::array()}}));
  EXPECT_EQ(content[2]["new"], (json{{"id", "2"}, {"a", "2"}, {"gone", "y"}, {"c", "8"}}));
  EXPECT_EQ(content[3], (json{{"op", "s"},
                              {"table", "public.s"},
                              {"added", json::array()},
                              {"dropped", {"gone"}},
                              {"retyped", {"a"}}}));
  EXPECT_EQ(content[4]["new"], (json{{"id", "1"}, {"a", "3"}, {"c", "7"}}));
  EXPECT_EQ(content[5]["new"], (json{{"id", "3"}, {"a", "3"}, {"c", "9"}}));
}

TEST_F(CaptureTest, HostileIdentifiersAndUnicode) {
  Exec(R"(CREATE SCHEMA "Weird Schema"; CREATE TABLE "Weird Schema"."Select" )"
       R"(("from" int PRIMARY KEY, "a ""q"" col" text, größe text))");
  const auto lines = Tail(
      1, [&] { Exec(R"(INSERT INTO "Weird Schema"."Select" VALUES (1, 'it''s', '日本語 ✓'))"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Content(lines[0]),
            (json{{"op", "c"},
                  {"table", "\"Weird Schema\".\"Select\""},
                  {"new", {{"from", "1"}, {"a \"q\" col", "it's"}, {"größe", "日本語 ✓"}}}}));
}

TEST_F(CaptureTest, LargeStreamedTransactionsSpillAndAbortsVanish) {
  // Make PostgreSQL stream in-progress transactions early and walden spill to disk.
  Exec("ALTER SYSTEM SET logical_decoding_work_mem = '64kB'");
  Exec("SELECT pg_reload_conf()");
  Exec("CREATE TABLE big (id int PRIMARY KEY, pad text)");
  const int rows = 50000;
  const auto lines = Tail(
      2,
      [&] {
        Exec(
            "BEGIN; INSERT INTO big SELECT i, repeat('x', 50) FROM generate_series(1, 1000) i; "
            "SAVEPOINT s; INSERT INTO big SELECT i, 'gone' FROM generate_series(1001, 30000) i; "
            "ROLLBACK TO s; INSERT INTO big SELECT i, repeat('y', 50) FROM "
            "generate_series(1001, " +
            std::to_string(rows) + ") i; COMMIT");
        Exec(
            "BEGIN; INSERT INTO big SELECT i, 'aborted' FROM generate_series(100001, 140000) i; "
            "ROLLBACK");
        Exec("INSERT INTO big VALUES (0, 'last')");
      },
      {"--source-memory-limit", "1MB"});
  Exec("ALTER SYSTEM RESET logical_decoding_work_mem");
  Exec("SELECT pg_reload_conf()");
  ASSERT_EQ(lines.size(), static_cast<size_t>(rows + 1));
  for (int i = 0; i < rows; ++i) {
    ASSERT_EQ(lines[i]["new"]["id"], std::to_string(i + 1)) << i;
    ASSERT_EQ(lines[i]["seq"], i);
  }
  EXPECT_EQ(lines[rows]["new"]["id"], "0");
  EXPECT_THAT(last_log_, ::testing::HasSubstr("tail: 2 transactions, "));
  EXPECT_THAT(last_log_, ::testing::Not(::testing::HasSubstr(", 0 bytes spilled to disk")));
  EXPECT_TRUE(std::filesystem::is_empty(data_dir() + "/spill") ||
              !std::filesystem::exists(data_dir() + "/spill"));
}

TEST_F(CaptureTest, QuietCapturedTablesStillAdvanceTheSlot) {
  Exec("CREATE TABLE quiet (id int PRIMARY KEY)");
  Exec("CREATE TABLE busy (id int)");
  WaldenProcess tail({"tail", "--source", AdminConninfo(), "--persistent", "--source-tables",
                      "public.quiet", "--source-slot", "quiet_slot", "--source-publication",
                      "quiet_pub", "--source-status-interval", "100ms", "--data-dir", data_dir()});
  ASSERT_TRUE(tail.WaitForLog("tail: streaming from slot", 30s)) << tail.Stderr();
  Exec("INSERT INTO busy SELECT generate_series(1, 20000)");
  const std::string target = Rows("SELECT pg_current_wal_lsn()")[0][0].value();
  Exec("SELECT pg_switch_wal()");  // keepalives report the new WAL end
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool advanced = false;
  while (!advanced && std::chrono::steady_clock::now() < deadline) {
    advanced = Rows("SELECT confirmed_flush_lsn >= '" + target +
                    "' FROM pg_replication_slots WHERE slot_name = 'quiet_slot'")[0][0] == "t";
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(advanced) << tail.Stderr();
  EXPECT_EQ(tail.Stdout(), "");
  tail.process().Stop(SIGTERM, 10s);
  DropSlot("quiet_slot");
}

TEST_F(CaptureTest, ForeignSlotIsRefusedWithTheFix) {
  Exec("SELECT pg_create_logical_replication_slot('foreign_slot', 'test_decoding')");
  const CommandResult result =
      RunWalden({"tail", "--source", AdminConninfo(), "--persistent", "--source-slot",
                 "foreign_slot", "--data-dir", data_dir()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output,
              ::testing::HasSubstr("walden: replication slot foreign_slot uses plugin "
                                   "test_decoding, not pgoutput; drop it (SELECT "
                                   "pg_drop_replication_slot('foreign_slot')) or set source.slot "
                                   "to another name\n"));
  DropSlot("foreign_slot");
}

TEST_F(CaptureTest, FailoverSlotsNeedPostgres17) {
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  const std::vector<std::string> args = {
      "tail",          "--source",          AdminConninfo(), "--persistent", "--source-slot",
      "failover_slot", "--source-failover", "true",          "--limit",      "1",
      "--data-dir",    data_dir()};
  if (server().major_version() < 17) {
    const CommandResult result = RunWalden(args);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_THAT(result.output,
                ::testing::HasSubstr("walden: source.failover needs PostgreSQL 17 or later; set it "
                                     "to false\n"));
    return;
  }
  WaldenProcess tail(args);
  ASSERT_TRUE(tail.WaitForLog("tail: streaming from slot", 30s)) << tail.Stderr();
  Exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(tail.Wait(60s), 0) << tail.Stderr();
  EXPECT_EQ(Rows("SELECT failover FROM pg_replication_slots WHERE slot_name = 'failover_slot'"),
            (std::vector<Row>{{"t"}}));
  DropSlot("failover_slot");
}

}  // namespace
}  // namespace walden::testing
