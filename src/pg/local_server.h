// A throwaway PostgreSQL server on this machine, for tests, the demo and benchmarks:
// `initdb` into a temporary directory, logical replication enabled, a free loopback port
// and a private Unix socket directory, started as the `postgres` system user when running
// as root (PostgreSQL refuses root). The server dies with its owner, even on SIGKILL
// (see Subprocess), and its directory is removed.
//
// Authentication: the Unix socket trusts everyone (AdminConninfo), TCP on 127.0.0.1 asks
// for a SCRAM password (TcpUrl), so tests can exercise real password handling.
// Thread-safety: not thread-safe; one owner.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/subprocess.h"

namespace walden::pg {

struct LocalServerOptions {
  std::string bin_dir;                                        // empty: DefaultPgBinDir()
  std::vector<std::pair<std::string, std::string>> settings;  // extra postgresql.conf
  std::string superuser_password = "postgres";
};

class LocalServer {
 public:
  static Result<std::unique_ptr<LocalServer>> Start(LocalServerOptions options);
  // A hot standby of `primary` streaming through the physical slot `slot` (created on the
  // primary), with extra `settings` such as sync_replication_slots.
  static Result<std::unique_ptr<LocalServer>> StartStandby(
      const LocalServer& primary, const std::string& slot,
      std::vector<std::pair<std::string, std::string>> settings);
  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  int port() const { return port_; }
  int major_version() const { return major_version_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& socket_dir() const { return socket_dir_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& bin_dir() const { return bin_dir_; }

  // Superuser over the Unix socket (trust authentication).
  std::string AdminConninfo(std::string_view database = "postgres") const;
  // postgresql://user@127.0.0.1:port/database (password authentication).
  std::string TcpUrl(std::string_view user, std::string_view database) const;

  Status Restart();
  Status Stop();  // fast shutdown; Start() again with Restart()
  bool Running() { return process_ && process_->Running(); }
  // Ends a standby's recovery: it becomes a primary (waits until it accepts writes).
  Status Promote();
  std::string LogTail(size_t max_lines = 20) const;

 private:
  LocalServer() = default;
  // Directories (owned by the server's user) and the bin directory, no cluster yet.
  static Result<std::unique_ptr<LocalServer>> Create(const std::string& bin_dir);
  // Appends walden's settings to postgresql.conf and starts on a free port.
  Status ConfigureAndLaunch(const std::vector<std::pair<std::string, std::string>>& settings);
  Status Launch();
  Status WaitReady();

  std::string bin_dir_;
  std::string root_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_path_;
  std::optional<std::string> run_as_;
  int port_ = 0;
  int major_version_ = 0;
  std::optional<Subprocess> process_;
};

// WALDEN_PG_BIN when set, else the newest /usr/lib/postgresql/<major>/bin.
Result<std::string> DefaultPgBinDir();

// A TCP port on 127.0.0.1 that was free a moment ago.
Result<int> FreeLoopbackPort();

}  // namespace walden::pg
