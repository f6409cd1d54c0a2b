// Capture under failure: server restarts, killed walsenders, a slot held by another
// reader, a lost slot, and a transaction far larger than memory. Each test checks that
// every committed change arrives exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "pg/capture.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::vector<int> Ids(const WaldenProcess& tail) {
  std::vector<int> ids;
  for (const std::string& line : tail.StdoutLines()) {
    const json change = json::parse(line);
    if (change.contains("new")) ids.push_back(std::stoi(change["new"]["id"].get<std::string>()));
  }
  return ids;
}

bool WaitForLines(const WaldenProcess& tail, size_t count, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (tail.StdoutLines().size() >= count) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i <= to; ++i) out.push_back(i);
  return out;
}

class CaptureResilienceTest : public PgTest {
 protected:
  std::string data_dir() const { return ScratchDir(); }
  std::vector<std::string> TailArgs(const std::string& conninfo, int limit,
                                    const std::string& slot) {
    return {
        "tail",          "--source", conninfo,     "--persistent", "--limit", std::to_string(limit),
        "--source-slot", slot,       "--data-dir", data_dir()};
  }
};

TEST_F(CaptureResilienceTest, ServerRestartMidStreamLosesAndDuplicatesNothing) {
  auto own = pg::LocalServer::Start({});
  ASSERT_TRUE(own) << own.error().message;
  auto conn = pg::Connection::Open((*own)->AdminConninfo());
  ASSERT_TRUE(conn->Exec("CREATE TABLE t (id int PRIMARY KEY)"));
  WaldenProcess tail(TailArgs((*own)->AdminConninfo(), 40, "restart_slot"));
  ASSERT_TRUE(tail.WaitForLog("tail: streaming from slot", 30s)) << tail.Stderr();
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(conn->Exec("INSERT INTO t VALUES (" + std::to_string(i) + ")"));
  }
  ASSERT_TRUE(WaitForLines(tail, 20, 30s)) << tail.Stderr();
  ASSERT_TRUE((*own)->Restart());
  auto again = pg::Connection::Open((*own)->AdminConninfo());
  ASSERT_TRUE(again) << again.error().message;
  for (int i = 21; i <= 40; ++i) {
    ASSERT_TRUE(again->Exec("INSERT INTO t VALUES (" + std::to_string(i) + ")"));
  }
  EXPECT_EQ(tail.Wait(60s), 0) << tail.Stderr();
  EXPECT_EQ(Ids(tail), Range(1, 40));
  EXPECT_THAT(tail.Stderr(), HasSubstr("replication resumed from"));
}

TEST_F(CaptureResilienceTest, KilledWalsenderIsReconnected) {
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  WaldenProcess tail(TailArgs(AdminConninfo(), 30, "kill_slot"));
  ASSERT_TRUE(tail.WaitForLog("tail: streaming from slot", 30s)) << tail.Stderr();
  // Uncommitted-yet transactions at the moment of the kill must come again, once.
  Exec("INSERT INTO t SELECT generate_series(1, 10)");
  for (int i = 11; i <= 15; ++i) Exec("INSERT INTO t VALUES (" + std::to_string(i) + ")");
  ASSERT_TRUE(WaitForLines(tail, 15, 30s));
  Exec(
      "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
      "WHERE slot_name = 'kill_slot'");
  for (int i = 16; i <= 40; ++i) Exec("INSERT INTO t VALUES (" + std::to_string(i) + ")");
  EXPECT_EQ(tail.Wait(60s), 0) << tail.Stderr();
  EXPECT_EQ(Ids(tail), Range(1, 40));
  EXPECT_THAT(tail.Stderr(), HasSubstr("1 reconnects"));
  DropSlot("kill_slot");
}

TEST_F(CaptureResilienceTest, SlotInUseIsWaitedForOrTakenOver) {
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  WaldenProcess first(TailArgs(AdminConninfo(), 1000, "busy_slot"));
  ASSERT_TRUE(first.WaitForLog("tail: streaming from slot", 30s)) << first.Stderr();
  WaldenProcess waiter(TailArgs(AdminConninfo(), 1, "busy_slot"));
  EXPECT_TRUE(waiter.WaitForLog("is in use by PID", 30s)) << waiter.Stderr();
  EXPECT_THAT(waiter.Stderr(), HasSubstr("waiting for it to be released (or use --takeover"));
  waiter.process().Stop(SIGTERM, 10s);
  std::vector<std::string> args = TailArgs(AdminConninfo(), 1, "busy_slot");
  args.push_back("--takeover");
  WaldenProcess taker(args);
  ASSERT_TRUE(taker.WaitForLog("tail: streaming from slot", 30s)) << taker.Stderr();
  EXPECT_THAT(taker.Stderr(), HasSubstr("terminating that backend (--takeover)"));
  Exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(taker.Wait(30s), 0) << taker.Stderr();
  EXPECT_EQ(Ids(taker), (std::vector<int>{1}));
  first.process().Stop(SIGKILL, 1s);
  DropSlot("busy_slot");
}

TEST_F(CaptureResilienceTest, LostSlotStopsWithTheRecoveryCommand) {
  auto own = pg::LocalServer::Start({.settings = {{"max_slot_wal_keep_size", "'1MB'"},
                                                  {"min_wal_size", "'32MB'"},
                                                  {"max_wal_size", "'32MB'"}}});
  ASSERT_TRUE(own) << own.error().message;
  auto conn = pg::Connection::Open((*own)->AdminConninfo());
  ASSERT_TRUE(conn->Exec("SELECT pg_create_logical_replication_slot('doomed', 'pgoutput')"));
  ASSERT_TRUE(conn->Exec("CREATE TABLE filler (pad text)"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        conn->Exec("INSERT INTO filler SELECT repeat('x', 1000) FROM "
                   "generate_series(1, 5000); SELECT pg_switch_wal(); CHECKPOINT"));
  }
  auto status = conn->QueryValue("SELECT wal_status FROM pg_replication_slots");
  ASSERT_TRUE(status);
  ASSERT_EQ(*status, "lost");
  const CommandResult result =
      RunWalden({"tail", "--source", (*own)->AdminConninfo(), "--persistent", "--source-slot",
                 "doomed", "--data-dir", data_dir()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output,
              HasSubstr("walden: replication slot doomed is lost: PostgreSQL removed WAL it "
                        "still needed, so changes are missing; recover with `walden resync`\n"));
}

TEST_F(CaptureResilienceTest, MillionRowTransactionStaysUnder256MB) {
  Exec("CREATE TABLE huge (id int PRIMARY KEY, pad text)");
  Exec("CREATE TABLE marker (id int PRIMARY KEY)");
  // The output filter keeps stdout small; every change is still decoded and assembled.
  WaldenProcess tail({"tail", "--source", AdminConninfo(), "--limit", "2", "--table",
                      "public.marker", "--data-dir", data_dir()});
  ASSERT_TRUE(tail.WaitForLog("tail: streaming from slot", 30s)) << tail.Stderr();
  Exec("INSERT INTO huge SELECT i, md5(i::text) FROM generate_series(1, 1000000) i");
  Exec("INSERT INTO marker VALUES (1)");
  ASSERT_EQ(tail.Wait(300s), 0) << tail.Stderr();
  EXPECT_EQ(Ids(tail), (std::vector<int>{1}));
  const std::string log = tail.Stderr();
  EXPECT_THAT(log, HasSubstr("tail: 2 transactions, 1000001 changes"));
  const size_t at = log.find("peak RSS ");
  ASSERT_NE(at, std::string::npos);
  const long peak_kb = std::stol(log.substr(at + 9));
  EXPECT_LT(peak_kb, 256 * 1024) << log;
  RecordProperty("peak_rss_kb", std::to_string(peak_kb));
  std::printf("peak RSS for a 1,000,000-row transaction: %ld kB\n", peak_kb);
}

TEST_F(CaptureResilienceTest, LagWarningIsLoggedOncePerCrossing) {
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  spdlog::set_default_logger(logger);
  Exec("CREATE TABLE t (id int PRIMARY KEY, pad text)");
  auto capture = pg::Capture::Start({.conninfo = AdminConninfo(),
                                     .slot = "lag_slot",
                                     .publication = "lag_pub",
                                     .spill_dir = data_dir(),
                                     .status_interval = std::chrono::milliseconds(50)});
  ASSERT_TRUE(capture) << capture.error().message;
  Exec("INSERT INTO t SELECT i, repeat('x', 100) FROM generate_series(1, 2000) i");
  auto lag = (*capture)->CheckLag(64 * 1024);
  ASSERT_TRUE(lag) << lag.error().message;
  EXPECT_GT(*lag, 64 * 1024);
  (void)(*capture)->CheckLag(64 * 1024);  // still above: no second warning
  const std::string first = log.str();
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 1) << first;
  EXPECT_THAT(log.str(), HasSubstr("slot lag_slot holds "));
  EXPECT_THAT(log.str(), HasSubstr("above source.lag_warn = 65536"));
  // Consume and confirm: the lag falls back under the threshold.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  int64_t current = *lag;
  while (current > 64 * 1024 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*capture)->Poll(100ms, [&](pg::CommittedTransaction&& txn) {
      (*capture)->Confirm(txn.info().end_lsn);
      return Status{};
    }));
    ASSERT_TRUE((*capture)->Flush());
    current = (*capture)->CheckLag(64 * 1024).value_or(current);
  }
  EXPECT_LE(current, 64 * 1024);
  EXPECT_THAT(log.str(), HasSubstr("slot lag_slot lag is back to"));
  spdlog::set_default_logger(spdlog::stderr_color_mt("restored"));
  capture->reset();
  DropSlot("lag_slot");
}

// A stop that interrupts a catalog query (the run loop's lag check) closes that connection;
// the clean stop's drain still finds the WAL position to read up to.
TEST_F(CaptureResilienceTest, DrainTargetAfterAStopInterruptedTheLagCheck) {
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  std::atomic<bool> stop{false};
  auto capture = pg::Capture::Start({.conninfo = AdminConninfo(),
                                     .slot = "drain_slot",
                                     .publication = "drain_pub",
                                     .spill_dir = data_dir(),
                                     .stop = &stop});
  ASSERT_TRUE(capture) << capture.error().message;
  Exec("INSERT INTO t VALUES (1)");
  const std::string committed = *Rows("SELECT pg_catalog.pg_current_wal_flush_lsn()::text")[0][0];
  stop = true;
  auto lag = (*capture)->CheckLag(1 << 30);
  ASSERT_FALSE(lag);
  EXPECT_THAT(lag.error().message, HasSubstr("stopped while waiting for PostgreSQL at"));
  auto target = (*capture)->DrainTarget();
  ASSERT_TRUE(target) << target.error().message;
  EXPECT_GT(*target, Lsn::Parse(committed).value());
  capture->reset();
  DropSlot("drain_slot");
}

// The decoder's type look-ups go through the catalog connection. One that gave up (a lag
// check a stop interrupted, or one that timed out) is opened again for the next look-up; a
// look-up that cannot be made at all decides nothing: the stream reconnects and reads the
// transaction again, and a domain's values keep their type instead of turning into text.
TEST_F(CaptureResilienceTest, TypesAreLookedUpAgainAfterTheCatalogConnectionGaveUp) {
  Exec("CREATE DOMAIN posint AS integer CHECK (VALUE > 0)");
  Exec("CREATE TABLE t (id int PRIMARY KEY, n posint)");
  Exec("CREATE TABLE u (id int PRIMARY KEY, n posint)");
  std::atomic<bool> stop{false};
  auto capture = pg::Capture::Start({.conninfo = AdminConninfo(),
                                     .slot = "lookup_slot",
                                     .publication = "lookup_pub",
                                     .spill_dir = data_dir(),
                                     .stop = &stop});
  ASSERT_TRUE(capture) << capture.error().message;
  std::vector<std::pair<std::string, TypeKind>> inserted;  // table, type of n
  auto poll_until = [&](size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (inserted.size() < count && std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE((*capture)->Poll(100ms, [&](pg::CommittedTransaction&& txn) {
        return txn.ForEach([&](const pg::Change& change) {
          if (change.kind == pg::Change::Kind::kInsert) {
            inserted.emplace_back(change.relation->name.name, change.relation->types[1].kind);
          }
          return Status{};
        });
      }));
    }
  };
  // The stop closes the catalog connection; withdrawn, the next look-up opens it again.
  stop = true;
  ASSERT_FALSE((*capture)->CheckLag(1 << 30));
  stop = false;
  Exec("INSERT INTO t VALUES (1, 7)");
  ASSERT_NO_FATAL_FAILURE(poll_until(1));
  // Closed again, and while the stop stands it cannot be opened: nothing of u is decided.
  stop = true;
  ASSERT_FALSE((*capture)->CheckLag(1 << 30));
  Exec("INSERT INTO u VALUES (2, 8)");
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE((*capture)->Poll(100ms, [&](auto&&) {
      ADD_FAILURE() << "a transaction was handed out without its types";
      return Status{};
    }));
  stop = false;
  ASSERT_NO_FATAL_FAILURE(poll_until(2));
  using Inserted = std::pair<std::string, TypeKind>;
  EXPECT_THAT(inserted, ::testing::ElementsAre(Inserted{"t", TypeKind::kInt32},
                                               Inserted{"u", TypeKind::kInt32}));
  capture->reset();
  DropSlot("lookup_slot");
}

// Connections a loop must not hang on (pg::ConnectOptions): they answer like PQexec, give up
// on a silent server after answer_timeout and on a raised interrupt at once, and a connection
// that gave up is closed.
TEST_F(CaptureResilienceTest, BoundedWaitsAnswerLikeExecOrGiveUpAndClose) {
  auto conn = pg::Connection::Open(AdminConninfo(), {.answer_timeout = 500ms});
  ASSERT_TRUE(conn) << conn.error().message;
  auto last = conn->Exec(
      "CREATE TABLE bounded (x int); INSERT INTO bounded VALUES (1), (2); "
      "SELECT count(*) FROM bounded");
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_EQ(last->Value(0, 0), "2");
  auto first_error = conn->Exec("SELECT 1; SELECT * FROM no_such_table; SELECT 2");
  ASSERT_FALSE(first_error);
  EXPECT_EQ(first_error.error().kind, ErrorKind::kNotFound);
  EXPECT_THAT(first_error.error().message,
              ::testing::StartsWith("relation \"no_such_table\" does not exist"));
  const std::vector<std::optional<std::string>> params = {"41"};
  EXPECT_EQ(conn->ExecParams("SELECT $1::int + 1", params).value().Value(0, 0), "42");

  auto silent = conn->Exec("SELECT pg_sleep(3)");
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().kind, ErrorKind::kConnection);
  EXPECT_THAT(silent.error().message,
              HasSubstr("sent nothing for 500 ms (network cut or server hung?); closed that "
                        "connection [in: SELECT pg_sleep(3)]"));
  auto closed = conn->Exec("SELECT 1");
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().kind, ErrorKind::kConnection);

  std::atomic<bool> stop{false};
  auto waiting = pg::Connection::Open(AdminConninfo(), {.interrupt = &stop});
  ASSERT_TRUE(waiting) << waiting.error().message;
  std::thread raise([&] {
    std::this_thread::sleep_for(300ms);
    stop = true;
  });
  const auto asked = std::chrono::steady_clock::now();
  auto interrupted = waiting->Exec("SELECT pg_sleep(10)");
  raise.join();
  ASSERT_FALSE(interrupted);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
  EXPECT_THAT(interrupted.error().message, HasSubstr("stopped while waiting for PostgreSQL at"));
  auto not_connected = pg::Connection::Open(AdminConninfo(), {.interrupt = &stop});
  ASSERT_FALSE(not_connected);
  EXPECT_THAT(not_connected.error().message, HasSubstr(": stopped while connecting"));
}

}  // namespace
}  // namespace walden::testing
