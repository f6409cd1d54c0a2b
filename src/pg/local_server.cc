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

#include "common/strings.h"

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

Result<std::unique_ptr<LocalServer>> LocalServer::Start(LocalServerOptions options) {
  std::unique_ptr<LocalServer> server(new LocalServer());
  if (geteuid() == 0) server->run_as_ = "postgres";
  std::string bin = options.bin_dir;
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
  const std::string pwfile = pattern + "/pwfile";
  std::ofstream(pwfile) << options.superuser_password << "\n";
  for (const std::string& path : {server->root_dir_, server->socket_dir_, pwfile}) {
    if (auto ok = Chown(path, server->run_as_); !ok) return std::unexpected(ok.error());
  }

  auto initdb =
      RunCommand({.argv = {server->bin_dir_ + "/initdb", "-D", server->data_dir_, "-U", "postgres",
                           "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                           "-E", "UTF8", "--no-locale", "--no-sync"},
                  .user = server->run_as_},
                 120s);
  fs::remove(pwfile);
  if (!initdb || initdb->exit_code != 0) {
    return Fail(ErrorKind::kIo,
                "initdb failed: " + (initdb ? OneLine(initdb->output) : initdb.error().message));
  }
  std::ifstream version_file(server->data_dir_ + "/PG_VERSION");
  version_file >> server->major_version_;

  std::ofstream conf(server->data_dir_ + "/postgresql.conf", std::ios::app);
  conf << "\n# walden LocalServer\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "unix_socket_directories = '" << server->socket_dir_ << "'\n"
       << "wal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\n"
       << "fsync = off\nfull_page_writes = off\nshared_buffers = 64MB\n"
       << "max_connections = 100\nlog_min_messages = warning\n";
  for (const auto& [key, value] : options.settings) conf << key << " = " << value << "\n";
  conf.close();

  for (int attempt = 0;; ++attempt) {
    auto port = FreeLoopbackPort();
    if (!port) return std::unexpected(port.error());
    server->port_ = *port;
    auto launched = server->Launch();
    if (launched) break;
    if (attempt == 2 || server->LogTail().find("in use") == std::string::npos) {
      return std::unexpected(launched.error());
    }
  }
  return server;
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
