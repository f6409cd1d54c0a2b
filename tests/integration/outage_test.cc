// PostgreSQL outages under a steady workload (issue #15): restarts, a minute-long stop and a
// stop request while the source is down. walden must never exit on its own, and afterwards
// the mirror equals the source and the archive holds every change exactly once.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "common/strings.h"
#include "tests/support/duck_reader.h"
#include "tests/support/mirror_compare.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

class OutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto own = pg::LocalServer::Start({});
    ASSERT_TRUE(own) << own.error().message;
    server_ = std::move(*own);
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (std::filesystem::path(::testing::TempDir()) /
            fmt::format("walden-{}-outage-{}", getpid(), test->name()))
               .string();
    std::filesystem::remove_all(dir_);
    Exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, note text);"
        "INSERT INTO accounts SELECT g, 0, repeat('n', 3000) FROM generate_series(1, 50) g;"
        "CREATE TABLE ledger (id bigserial PRIMARY KEY, account int, amount int)");
  }
  // Where walden and the writer connect: the server, unless a test points it elsewhere.
  std::string conninfo() const { return source_.empty() ? server_->AdminConninfo() : source_; }
  std::string mirror() const { return dir_ + "/data/mirror.duckdb"; }
  void Exec(const std::string& sql) {
    auto conn = pg::Connection::Open(conninfo());
    ASSERT_TRUE(conn) << conn.error().message;
    auto done = conn->Exec(sql);
    ASSERT_TRUE(done) << done.error().message;
  }
  // RunArgs with walden reaching PostgreSQL through proxy_ (started here; null when it
  // could not start), over TCP with the password in PGPASSWORD.
  std::vector<std::string> ProxiedRunArgs() {
    auto proxy = TcpProxy::Start(server_->port());
    EXPECT_TRUE(proxy) << proxy.error().message;
    if (!proxy) return {};
    proxy_ = std::move(*proxy);
    std::vector<std::string> args = RunArgs();
    args[4] = fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", proxy_->port());
    return args;
  }
  std::vector<std::string> RunArgs() const {
    return {"run",
            "--server-listen",
            "127.0.0.1:0",
            "--source",
            conninfo(),
            "--data-dir",
            dir_ + "/data",
            "--source-slot",
            "outage_slot",
            "--archive-flush-interval",
            "500ms",
            "--canary-interval",
            "1s"};
  }
  // One transaction per few milliseconds while `stop_` is false; failures (the server is
  // away) are retried on a new connection, as an application would.
  void StartWriter() {
    writer_ = std::thread([this] {
      std::mt19937 random(7);
      std::optional<pg::Connection> conn;
      while (!stop_) {
        if (!conn) {
          auto opened = pg::Connection::Open(conninfo());
          if (!opened) {
            std::this_thread::sleep_for(50ms);
            continue;
          }
          conn.emplace(std::move(*opened));
        }
        const int account = 1 + static_cast<int>(random() % 50);
        const int amount = static_cast<int>(random() % 1000);
        std::string sql = fmt::format(
            "BEGIN; INSERT INTO ledger (account, amount) VALUES ({0}, {1});"
            "UPDATE accounts SET balance = balance + {1} WHERE id = {0};",
            account, amount);
        if (random() % 10 == 0) {
          sql += fmt::format("UPDATE accounts SET note = repeat('{}', 3000) WHERE id = {};",
                             static_cast<char>('a' + random() % 26), account);
        }
        if (conn->Exec(sql + "COMMIT")) {
          ++transactions_;
        } else {
          conn.reset();
        }
        std::this_thread::sleep_for(3ms);
      }
    });
  }
  void StopWriter() {
    stop_ = true;
    if (writer_.joinable()) writer_.join();
  }
  void TearDown() override { StopWriter(); }
  bool WaitForCaughtUp(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto conn = pg::Connection::Open(conninfo());
      if (conn) {
        auto done = conn->QueryValue(
            "SELECT confirmed_flush_lsn >= pg_current_wal_lsn() FROM pg_replication_slots "
            "WHERE slot_name = 'outage_slot'");
        if (done && *done == "t") return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Waits until the writer committed `count` more transactions (PostgreSQL is back).
  void WaitForWrites(int count) {
    const int until = transactions_ + count;
    while (transactions_ < until) std::this_thread::sleep_for(10ms);
  }

  // Once the workload is over: walden caught up and stopped cleanly, the mirror equals the
  // source and every ledger row reached the archive once (as the initial load's read or as
  // an insert).
  void StopAndExpectEverythingOnce(WaldenProcess& run) {
    StopWriter();
    ASSERT_TRUE(WaitForCaughtUp(120s)) << run.Stderr();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(30s), 0) << run.Stderr();
    EXPECT_THAT(run.Stderr(), ::testing::HasSubstr("replication resumed from"));
    for (const char* table : {"accounts", "ledger"}) {
      EXPECT_EQ(MirrorDiff(conninfo(), mirror(), {"public", table}), "") << table;
    }
    auto conn = pg::Connection::Open(conninfo());
    ASSERT_TRUE(conn);
    const std::string source = conn->QueryValue("SELECT count(*) FROM ledger").value();
    const auto archived = DuckRows(
        mirror(), "SELECT count(*), count(DISTINCT id) FROM read_parquet('" + dir_ +
                      "/data/archive/tables/public/ledger/*/*.parquet') WHERE _walden_op IN "
                      "('r', 'c')");
    ASSERT_EQ(archived.size(), 1u);
    EXPECT_EQ(archived[0], (Row{source, source}));
  }

  std::unique_ptr<pg::LocalServer> server_;
  std::unique_ptr<TcpProxy> proxy_;
  std::string source_;
  std::string dir_;
  std::atomic<bool> stop_{false};
  std::atomic<int> transactions_{0};
  std::thread writer_;
};

TEST_F(OutageTest, RestartsAndAMinuteDownNeverStopWaldenAndLoseNothing) {
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  StartWriter();
  for (int i = 0; i < 5; ++i) {
    WaitForWrites(100);
    ASSERT_TRUE(server_->Restart()) << i;
    // walden is streaming again before the next restart.
    ASSERT_TRUE(run.WaitForLog("replication resumed from", 30s, i + 1)) << run.Stderr();
  }
  WaitForWrites(100);
  ASSERT_TRUE(server_->Stop());
  // Down for a minute: walden waits (and keeps serving), it does not give up.
  const auto down_until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < down_until) {
    ASSERT_TRUE(run.process().Running()) << run.Stderr();
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(server_->Restart());
  ASSERT_TRUE(run.WaitForLog("replication resumed from", 30s, 6)) << run.Stderr();
  WaitForWrites(200);
  StopAndExpectEverythingOnce(run);
}

// A cut network gives neither end an error, only silence: walden must notice by itself
// (source.receive_timeout), keep trying while nothing answers, and resume when the network
// is back. The writer reaches PostgreSQL directly; walden through the proxy.
TEST_F(OutageTest, ANetworkCutIsNoticedAndHealedWithoutLoss) {
  std::vector<std::string> args = ProxiedRunArgs();
  ASSERT_TRUE(proxy_);
  args.insert(args.end(), {"--source-receive-timeout", "4s"});
  WaldenProcess run(args, {{"PGPASSWORD", "postgres"}});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  StartWriter();
  WaitForWrites(100);
  proxy_->Cut();
  ASSERT_TRUE(run.WaitForLog("nothing arrived from PostgreSQL for", 30s)) << run.Stderr();
  // Reconnect attempts meet the same silence; walden keeps going for the cut's length.
  const auto cut_until = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < cut_until) {
    ASSERT_TRUE(run.process().Running()) << run.Stderr();
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_THAT(run.Stderr(), ::testing::Not(::testing::HasSubstr("replication resumed from")));
  proxy_->Heal();
  ASSERT_TRUE(run.WaitForLog("replication resumed from", 60s)) << run.Stderr();
  WaitForWrites(200);
  StopAndExpectEverythingOnce(run);
}

TEST_F(OutageTest, SigtermDuringANetworkCutExitsWithinTwoSeconds) {
  std::vector<std::string> args = ProxiedRunArgs();
  ASSERT_TRUE(proxy_);
  WaldenProcess run(args, {{"PGPASSWORD", "postgres"}});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  proxy_->Cut();
  std::this_thread::sleep_for(3s);  // heartbeats and catalog queries now wait for answers
  const auto asked = std::chrono::steady_clock::now();
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(10s), 0) << run.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s) << run.Stderr();
}

// PostgreSQL 17's failover slots: a standby keeps a synchronized copy of walden's slot, the
// primary goes away for good and the standby is promoted. walden, given both hosts, finds
// the new primary and continues from its copy of the slot without losing or repeating a
// change (synchronized_standby_slots keeps walden from seeing what the standby lacks).
TEST_F(OutageTest, AFailoverToAPromotedStandbyWithTheSlotLosesNothing) {
  if (server_->major_version() < 17) GTEST_SKIP() << "failover slots need PostgreSQL 17";
  auto standby = pg::LocalServer::StartStandby(
      *server_, "standby1", {{"sync_replication_slots", "on"}, {"hot_standby_feedback", "on"}});
  ASSERT_TRUE(standby) << standby.error().message;
  Exec("ALTER SYSTEM SET synchronized_standby_slots = 'standby1'");
  Exec("SELECT pg_reload_conf()");
  source_ = fmt::format(
      "host={},{} port={},{} user=postgres dbname=postgres target_session_attrs=read-write",
      server_->socket_dir(), (*standby)->socket_dir(), server_->port(), (*standby)->port());
  std::vector<std::string> args = RunArgs();
  args.insert(args.end(), {"--source-failover", "true"});
  WaldenProcess run(args);
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  StartWriter();
  WaitForWrites(100);
  auto on_standby = pg::Connection::Open((*standby)->AdminConninfo());
  ASSERT_TRUE(on_standby) << on_standby.error().message;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (on_standby
             ->QueryValue("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
                          "'outage_slot' AND synced AND NOT temporary")
             .value_or("") != "1") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the slot was never synchronized";
    std::this_thread::sleep_for(200ms);
  }
  WaitForWrites(100);
  ASSERT_TRUE(server_->Stop());
  ASSERT_TRUE((*standby)->Promote());
  ASSERT_TRUE(run.WaitForLog("replication resumed from", 60s)) << run.Stderr();
  WaitForWrites(200);
  StopAndExpectEverythingOnce(run);
}

TEST_F(OutageTest, SigtermWhileTheSourceIsDownExitsWithinTwoSeconds) {
  WaldenProcess run(RunArgs());
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  ASSERT_TRUE(server_->Stop());
  std::this_thread::sleep_for(3s);  // every connection has noticed, backoffs are running
  ASSERT_TRUE(run.process().Running()) << run.Stderr();
  const auto asked = std::chrono::steady_clock::now();
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(5s), 0) << run.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 2s);
}

}  // namespace
}  // namespace walden::testing
