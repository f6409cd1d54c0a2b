// PostgreSQL for tests: one LocalServer per test binary (Debian's 15 by default; set
// WALDEN_PG_BIN to another bin directory, e.g. the npm PostgreSQL 17), and a fresh database
// per test, dropped afterwards.
// Thread-safety: gtest runs tests on one thread; so does this fixture.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "pg/connection.h"
#include "pg/local_server.h"

namespace walden::testing {

using Row = std::vector<std::optional<std::string>>;

// Started on first use; stopped when the test binary exits (or dies: see Subprocess).
pg::LocalServer& SharedServer();

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  pg::LocalServer& server() { return SharedServer(); }
  const std::string& database() const { return database_; }
  // Superuser over the Unix socket, to this test's database.
  std::string AdminConninfo() const;
  // postgresql://user@127.0.0.1:port/<this test's database> (password authentication).
  std::string TcpUrl(std::string_view user) const;

  // A directory for this test alone (unique per test and process, so concurrent test runs
  // on one machine never share files).
  std::string ScratchDir() const;

  // Runs SQL as superuser in this test's database; fails the test on error.
  void Exec(std::string_view sql);
  std::vector<Row> Rows(std::string_view sql);
  // Drops a replication slot once no walsender holds it (a reader that just exited may
  // still hold it for a moment).
  void DropSlot(const std::string& slot);
  // Waits until the slot's confirmed_flush_lsn reaches `lsn`; false on timeout.
  bool WaitForConfirmed(const std::string& slot, const std::string& lsn,
                        std::chrono::seconds timeout = std::chrono::seconds(120));
  // The same for everything committed so far (the server's current WAL position).
  bool WaitForCaughtUp(const std::string& slot,
                       std::chrono::seconds timeout = std::chrono::seconds(120));
  // Creates a LOGIN role with this password (and extra attributes, e.g. "REPLICATION").
  void CreateRole(std::string_view name, std::string_view password,
                  std::string_view attributes = "");

 private:
  std::string database_;
  std::optional<pg::Connection> conn_;
};

std::vector<Row> Rows(pg::Connection& conn, std::string_view sql);

}  // namespace walden::testing
