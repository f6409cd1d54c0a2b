#include "pg/local_server.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/identifiers.h"
#include "common/strings.h"
#include "pg/connection.h"

namespace walden::pg {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Status Chown(const fs::path& path, const std::optional<std::string>& user) {
  if (!user) return {};
  const passwd* pw = getpwnam(user->c_str());
  if (!pw || chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    return Fail(ErrorKind::kIo, "cannot hand " + path.string() + " to user " + *user);
  }
  return {};
}

// When running as root the server runs as `postgres`, which may not be able to reach a
// server build inside root's home (e.g. node_modules of a checkout under /root). Such a
// build is copied once to a world-readable cache.
Result<std::string> ReachableBinDir(const std::string& bin_dir,
                                    const std::optional<std::string>& user) {
  if (!user) return bin_dir;
  auto probe = RunCommand({.argv = {"test", "-x", bin_dir + "/postgres"}, .user = user}, 30s);
  if (probe && probe->exit_code == 0) return bin_dir;
  const fs::path install_root = fs::path(bin_dir).parent_path();
  const fs::path cache =
      fs::temp_directory_path() /
      ("walden-pg-" + std::to_string(std::hash<std::string>{}(install_root.string())));
  if (!fs::exists(cache / "bin" / "postgres")) {
    const fs::path partial = cache.string() + ".partial-" + std::to_string(getpid());
    auto copy = RunCommand({.argv = {"cp", "-a", install_root.string(), partial.string()}}, 300s);
    if (!copy || copy->exit_code != 0) {
      return Fail(ErrorKind::kIo, "cannot copy " + install_root.string() + " to " +
                                      partial.string() + " for the postgres user");
    }
    std::error_code ec;
    fs::rename(partial, cache, ec);
    if (ec) fs::remove_all(partial, ec);  // another process won the race
    fs::permissions(cache, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  }
  return (cache / "bin").string();
}

}  // namespace

Result<std::string> DefaultPgBinDir() {
  if (const char* env = std::getenv("WALDEN_PG_BIN"); env && *env) {
    if (!fs::exists(fs::path(env) / "postgres")) {
      return Fail(ErrorKind::kNotFound, std::string("WALDEN_PG_BIN=") + env +
                                            " has no postgres binary; point it at a "
                                            "PostgreSQL bin directory");
    }
    return std::string(env);
  }
  int best = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const int major = std::atoi(entry.path().filename().c_str());
    if (major > best && fs::exists(entry.path() / "bin" / "postgres")) best = major;
  }
  if (best == 0) {
    return Fail(ErrorKind::kNotFound,
                "no PostgreSQL server found under /usr/lib/postgresql; run scripts/setup.sh "
                "(installs postgresql-15) or set WALDEN_PG_BIN to a bin directory");
  }
  return "/usr/lib/postgresql/" + std::to_string(best) + "/bin";
}

Result<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorKind::kIo, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return Fail(ErrorKind::kIo, std::string("bind: ") + std::strerror(errno));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

Result<std::unique_ptr<LocalServer>> LocalServer::Create(const std::string& bin_dir) {
  std::unique_ptr<LocalServer> server(new LocalServer());
  if (geteuid() == 0) server->run_as_ = "postgres";
  std::string bin = bin_dir;
  if (bin.empty()) {
    auto found = DefaultPgBinDir();
    if (!found) return std::unexpected(found.error());
    bin = *found;
  }
  auto reachable = ReachableBinDir(bin, server->run_as_);
  if (!reachable) return std::unexpected(reachable.error());
  server->bin_dir_ = *reachable;

  std::string pattern = (fs::temp_directory_path() / "walden-pg-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    return Fail(ErrorKind::kIo, "mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  server->root_dir_ = pattern;
  server->data_dir_ = pattern + "/data";
  server->socket_dir_ = pattern + "/sock";
  server->log_path_ = pattern + "/postgres.log";
  fs::create_directory(server->socket_dir_);
  for (const std::string& path : {server->root_dir_, server->socket_dir_}) {
    if (auto ok = Chown(path, server->run_as_); !ok) return std::unexpected(ok.error());
  }
  return server;
}

Status LocalServer::ConfigureAndLaunch(
    const std::vector<std::pair<std::string, std::string>>& settings) {
  std::ifstream version_file(data_dir_ + "/PG_VERSION");
  version_file >> major_version_;
  std::ofstream conf(data_dir_ + "/postgresql.conf", std::ios::app);
  conf << "\n# walden LocalServer\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "unix_socket_directories = '" << socket_dir_ << "'\n"
       << "wal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\n"
       << "fsync = off\nfull_page_writes = off\nshared_buffers = 64MB\n"
       << "max_connections = 100\nlog_min_messages = warning\n";
  for (const auto& [key, value] : settings) conf << key << " = " << value << "\n";
  conf.close();
  for (int attempt = 0;; ++attempt) {
    auto port = FreeLoopbackPort();
    if (!port) return std::unexpected(port.error());
    port_ = *port;
    auto launched = Launch();
    if (launched) return {};
    if (attempt == 2 || LogTail().find("in use") == std::string::npos) return launched;
  }
}

Result<std::unique_ptr<LocalServer>> LocalServer::Start(LocalServerOptions options) {
  auto server = Create(options.bin_dir);
  if (!server) return server;
  LocalServer& s = **server;
  const std::string pwfile = s.root_dir_ + "/pwfile";
  std::ofstream(pwfile) << options.superuser_password << "\n";
  if (auto ok = Chown(pwfile, s.run_as_); !ok) return std::unexpected(ok.error());
  auto initdb =
      RunCommand({.argv = {s.bin_dir_ + "/initdb", "-D", s.data_dir_, "-U", "postgres",
                           "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                           "-E", "UTF8", "--no-locale", "--no-sync"},
                  .user = s.run_as_},
                 120s);
  fs::remove(pwfile);
  if (!initdb || initdb->exit_code != 0) {
    return Fail(ErrorKind::kIo,
                "initdb failed: " + (initdb ? OneLine(initdb->output) : initdb.error().message));
  }
  if (auto ok = s.ConfigureAndLaunch(options.settings); !ok) return std::unexpected(ok.error());
  return server;
}

Result<std::unique_ptr<LocalServer>> LocalServer::StartStandby(
    const LocalServer& primary, const std::string& slot,
    std::vector<std::pair<std::string, std::string>> settings) {
  auto server = Create(primary.bin_dir_);
  if (!server) return server;
  LocalServer& s = **server;
  // A low-level base backup (the npm PostgreSQL has no pg_basebackup, and Debian's refuses
  // newer servers): the slot first, so the primary keeps the WAL the copy needs.
  auto conn = Connection::Open(primary.AdminConninfo());
  if (!conn) return std::unexpected(conn.error());
  for (const std::string& sql :
       {"SELECT pg_catalog.pg_create_physical_replication_slot(" + QuoteLiteral(slot) + ", true)",
        std::string("SELECT pg_catalog.pg_backup_start('walden standby', true)")}) {
    if (auto done = conn->Exec(sql); !done) return std::unexpected(done.error());
  }
  auto copy = RunCommand({.argv = {"cp", "-a", primary.data_dir_, s.data_dir_}}, 120s);
  auto label = conn->QueryValue("SELECT labelfile FROM pg_catalog.pg_backup_stop(true)");
  if (!copy || copy->exit_code != 0) {
    return Fail(ErrorKind::kIo, "cannot copy " + primary.data_dir_ + ": " +
                                    (copy ? OneLine(copy->output) : copy.error().message));
  }
  if (!label) return std::unexpected(label.error());
  std::error_code ec;
  for (const char* name : {"postmaster.pid", "postmaster.opts"})
    fs::remove(s.data_dir_ + "/" + name, ec);
  // Slots and WAL are the primary's own: the standby streams the WAL and syncs the slots.
  for (const char* dir : {"/pg_replslot", "/pg_wal"}) {
    for (const auto& entry : fs::directory_iterator(s.data_dir_ + dir, ec)) {
      if (entry.path().filename() != "archive_status") fs::remove_all(entry.path(), ec);
    }
  }
  std::ofstream(s.data_dir_ + "/backup_label") << *label;
  std::ofstream(s.data_dir_ + "/standby.signal");
  std::ofstream(s.data_dir_ + "/postgresql.auto.conf", std::ios::app)
      << "primary_conninfo = '" << primary.AdminConninfo() << "'\n"
      << "primary_slot_name = '" << slot << "'\n";
  for (const char* name : {"/backup_label", "/standby.signal"}) {
    if (auto ok = Chown(s.data_dir_ + name, s.run_as_); !ok) return std::unexpected(ok.error());
  }
  settings.emplace_back("hot_standby", "on");
  if (auto ok = s.ConfigureAndLaunch(settings); !ok) return std::unexpected(ok.error());
  return server;
}

Status LocalServer::Promote() {
  auto promoted = RunCommand(
      {.argv = {bin_dir_ + "/pg_ctl", "promote", "-w", "-D", data_dir_}, .user = run_as_}, 60s);
  if (!promoted || promoted->exit_code != 0) {
    return Fail(ErrorKind::kIo, "pg_ctl promote failed: " + (promoted ? OneLine(promoted->output)
                                                                      : promoted.error().message));
  }
  return {};
}

Status LocalServer::Launch() {
  auto process = Subprocess::Spawn(
      {.argv = {bin_dir_ + "/postgres", "-D", data_dir_, "-p", std::to_string(port_)},
       .user = run_as_,
       .stdout_path = log_path_,
       .append_output = true,
       .guardian_signal = SIGQUIT,
       .scratch_dir = root_dir_});
  if (!process) return std::unexpected(process.error());
  process_.emplace(std::move(*process));
  return WaitReady();
}

Status LocalServer::WaitReady() {
  const std::string conninfo = AdminConninfo() + " connect_timeout=2";
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->Running()) {
      return Fail(ErrorKind::kConnection,
                  "PostgreSQL exited during start-up: " + OneLine(LogTail(5)));
    }
    if (PQping(conninfo.c_str()) == PQPING_OK) return {};
    std::this_thread::sleep_for(20ms);
  }
  return Fail(ErrorKind::kConnection,
              "PostgreSQL did not accept connections within 60 s: " + OneLine(LogTail(5)));
}

LocalServer::~LocalServer() {
  if (process_) process_->Stop(SIGQUIT, 10s);
  std::error_code ec;
  if (!root_dir_.empty()) fs::remove_all(root_dir_, ec);
}

Status LocalServer::Stop() {
  if (!process_) return {};
  // SIGINT is PostgreSQL's fast shutdown: disconnect clients, checkpoint, exit.
  const int code = process_->Stop(SIGINT, 60s);
  process_.reset();
  if (code != 0) return Fail(ErrorKind::kIo, "PostgreSQL exited with " + std::to_string(code));
  return {};
}

Status LocalServer::Restart() {
  if (auto stopped = Stop(); !stopped) return stopped;
  return Launch();
}

std::string LocalServer::AdminConninfo(std::string_view database) const {
  return "host=" + socket_dir_ + " port=" + std::to_string(port_) +
         " user=postgres dbname=" + std::string(database);
}

std::string LocalServer::TcpUrl(std::string_view user, std::string_view database) const {
  return "postgresql://" + std::string(user) + "@127.0.0.1:" + std::to_string(port_) + "/" +
         std::string(database);
}

std::string LocalServer::LogTail(size_t max_lines) const {
  std::ifstream in(log_path_);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > max_lines) lines.pop_front();
  }
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

}  // namespace walden::pg
