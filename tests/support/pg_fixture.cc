#include "tests/support/pg_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "common/identifiers.h"
#include "common/strings.h"

namespace walden::testing {

pg::LocalServer& SharedServer() {
  static std::unique_ptr<pg::LocalServer> server = [] {
    auto started = pg::LocalServer::Start({});
    if (!started) {
      std::fprintf(stderr, "cannot start the test PostgreSQL server: %s\n",
                   started.error().message.c_str());
      std::abort();
    }
    return std::move(*started);
  }();
  return *server;
}

std::vector<Row> Rows(pg::Connection& conn, std::string_view sql) {
  auto result = conn.Exec(sql);
  EXPECT_TRUE(result) << sql << ": " << (result ? "" : result.error().message);
  std::vector<Row> rows;
  if (!result) return rows;
  for (int r = 0; r < result->rows(); ++r) {
    Row row;
    for (int c = 0; c < result->columns(); ++c) {
      auto value = result->Get(r, c);
      row.push_back(value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void PgTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Lower-case, at most 63 bytes, unique per test within the binary.
  std::string name = AsciiLower(std::string("t_") + info->test_suite_name() + "_" + info->name());
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  database_ = name.substr(0, 63);
  auto admin = pg::Connection::Open(server().AdminConninfo());
  ASSERT_TRUE(admin) << admin.error().message;
  ASSERT_TRUE(admin->Exec("DROP DATABASE IF EXISTS " + QuoteIdent(database_) + " WITH (FORCE)"));
  auto created = admin->Exec("CREATE DATABASE " + QuoteIdent(database_));
  ASSERT_TRUE(created) << created.error().message;
  auto conn = pg::Connection::Open(AdminConninfo());
  ASSERT_TRUE(conn) << conn.error().message;
  conn_.emplace(std::move(*conn));
}

void PgTest::TearDown() {
  conn_.reset();
  auto admin = pg::Connection::Open(server().AdminConninfo());
  if (!admin) return;
  // Slots pin a database; a test may leave one behind on failure.
  (void)admin->Exec(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
      "WHERE database = " +
      QuoteLiteral(database_) + " AND NOT active");
  (void)admin->Exec("DROP DATABASE IF EXISTS " + QuoteIdent(database_) + " WITH (FORCE)");
}

std::string PgTest::AdminConninfo() const { return SharedServer().AdminConninfo(database_); }

std::string PgTest::TcpUrl(std::string_view user) const {
  return SharedServer().TcpUrl(user, database_);
}

std::string PgTest::ScratchDir() const {
  return (std::filesystem::path(::testing::TempDir()) /
          ("walden-" + std::to_string(getpid()) + "-" + database_))
      .lexically_normal()
      .string();
}

void PgTest::Exec(std::string_view sql) {
  ASSERT_TRUE(conn_) << "no connection";
  auto result = conn_->Exec(sql);
  ASSERT_TRUE(result) << sql << ": " << (result ? "" : result.error().message);
}

std::vector<Row> PgTest::Rows(std::string_view sql) {
  if (!conn_) return {};
  return testing::Rows(*conn_, sql);
}

void PgTest::DropSlot(const std::string& slot) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const std::string active =
      "SELECT count(*) FROM pg_replication_slots WHERE active AND "
      "slot_name = " +
      QuoteLiteral(slot);
  while (std::chrono::steady_clock::now() < deadline && Rows(active)[0][0] != "0") {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Exec(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE "
      "slot_name = " +
      QuoteLiteral(slot));
}

bool PgTest::WaitForCaughtUp(const std::string& slot, std::chrono::seconds timeout) {
  return WaitForConfirmed(slot, Rows("SELECT pg_current_wal_lsn()")[0][0].value(), timeout);
}

bool PgTest::WaitForConfirmed(const std::string& slot, const std::string& lsn,
                              std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string sql =
      "SELECT confirmed_flush_lsn >= " + QuoteLiteral(lsn) +
      "::pg_lsn FROM pg_replication_slots WHERE slot_name = " + QuoteLiteral(slot);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto rows = Rows(sql);
    if (!rows.empty() && rows[0][0] == "t") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void PgTest::CreateRole(std::string_view name, std::string_view password,
                        std::string_view attributes) {
  // Roles are cluster-wide: recreate so each test starts from a known state.
  Exec("DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = " + QuoteLiteral(name) +
       ") THEN EXECUTE 'DROP OWNED BY " + std::string(QuoteIdent(name)) +
       " CASCADE'; "
       "EXECUTE 'DROP ROLE " +
       QuoteIdent(name) + "'; END IF; END $$");
  Exec("CREATE ROLE " + QuoteIdent(name) + " LOGIN PASSWORD " + QuoteLiteral(password) + " " +
       std::string(attributes));
  Exec("GRANT ALL ON SCHEMA public TO " + QuoteIdent(name));
}

}  // namespace walden::testing
