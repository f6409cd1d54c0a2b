#include "common/subprocess.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace walden {
namespace {

// Runs in its own session so that a Ctrl-C to our terminal does not stop it early.
// $1 = process group, $2 = first signal, $3 = scratch dir. A line on fd 3 disarms it.
constexpr const char* kGuardianScript = R"(
trap '' INT TERM HUP
if IFS= read -r line <&3; then exit 0; fi
kill -s "$2" -- "-$1" 2>/dev/null
i=0
while kill -0 -- "-$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -s KILL -- "-$1" 2>/dev/null
if [ -n "$3" ]; then rm -rf -- "$3"; fi
)";

std::string SignalName(int signal) {
  switch (signal) {
    case SIGQUIT:
      return "QUIT";
    case SIGTERM:
      return "TERM";
    case SIGINT:
      return "INT";
    default:
      return "KILL";
  }
}

struct PreparedExec {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;

  void Finish() {
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

PreparedExec PrepareExec(const SpawnOptions& options) {
  PreparedExec prepared;
  prepared.args = options.argv;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [key, value] : options.env) overridden |= key == name;
    if (!overridden) prepared.env.push_back(entry);
  }
  for (const auto& [key, value] : options.env) prepared.env.push_back(key + "=" + value);
  prepared.Finish();
  return prepared;
}

[[noreturn]] void ChildFail(const char* what) {
  const char* reason = std::strerror(errno);
  (void)!write(2, what, std::strlen(what));
  (void)!write(2, ": ", 2);
  (void)!write(2, reason, std::strlen(reason));
  (void)!write(2, "\n", 1);
  _exit(127);
}

int OpenOutput(const std::string& path, bool append) {
  if (path.empty()) return open("/dev/null", O_WRONLY);
  return open(path.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
}

}  // namespace

Result<Subprocess> Subprocess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return Fail(ErrorKind::kInternal, "Subprocess::Spawn without argv");
  std::optional<std::pair<uid_t, gid_t>> identity;
  if (options.user && geteuid() == 0) {
    const passwd* pw = getpwnam(options.user->c_str());
    if (!pw) {
      return Fail(ErrorKind::kNotFound, "system user \"" + *options.user +
                                            "\" does not exist; install PostgreSQL's Debian "
                                            "package (it creates the user) or run as non-root");
    }
    identity = std::pair{pw->pw_uid, pw->pw_gid};
  }
  PreparedExec exec = PrepareExec(options);
  const bool inherit_out = options.stdout_path == "-";
  const std::string err_path =
      options.stderr_path.empty() ? options.stdout_path : options.stderr_path;
  const pid_t pid = fork();
  if (pid < 0) return Fail(ErrorKind::kIo, std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    if (!inherit_out) {
      const int out = OpenOutput(options.stdout_path, options.append_output);
      const int err =
          err_path == options.stdout_path ? out : OpenOutput(err_path, options.append_output);
      if (out < 0 || err < 0) ChildFail("cannot open output file");
      dup2(out, 1);
      dup2(err, 2);
    }
    const int in = open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) ChildFail("chdir");
    if (identity) {
      if (setgroups(0, nullptr) != 0 || setgid(identity->second) != 0 ||
          setuid(identity->first) != 0) {
        ChildFail("cannot switch user");
      }
    }
    execvpe(exec.argv[0], exec.argv.data(), exec.envp.data());
    ChildFail(exec.argv[0]);
  }
  setpgid(pid, pid);  // also in the parent, so the group exists before we signal it

  // A socket pair rather than a pipe: send() with MSG_NOSIGNAL cannot raise SIGPIPE in the
  // owner when the guardian is already gone.
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return Fail(ErrorKind::kIo, std::string("socketpair failed: ") + std::strerror(errno));
  }
  const std::string group = std::to_string(pid);
  const std::string signal = SignalName(options.guardian_signal);
  const pid_t guardian = fork();
  if (guardian == 0) {
    setsid();
    if (fds[0] == 3) {
      fcntl(3, F_SETFD, 0);
    } else {
      dup2(fds[0], 3);  // dup2 clears close-on-exec on the copy
    }
    const int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    execl("/bin/sh", "sh", "-c", kGuardianScript, "walden-guardian", group.c_str(), signal.c_str(),
          options.scratch_dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[0]);
  return Subprocess(pid, guardian, fds[1]);
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      guardian_(std::exchange(other.guardian_, -1)),
      guardian_fd_(std::exchange(other.guardian_fd_, -1)),
      exit_code_(other.exit_code_) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    this->~Subprocess();
    pid_ = std::exchange(other.pid_, -1);
    guardian_ = std::exchange(other.guardian_, -1);
    guardian_fd_ = std::exchange(other.guardian_fd_, -1);
    exit_code_ = other.exit_code_;
  }
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exit_code_) {
    kill(-pid_, SIGKILL);
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_) Reaped(status);
  }
  Disarm();
}

void Subprocess::Reaped(int status) {
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // Processes the child left in its group (e.g. postgres backends) are not ours to keep.
  kill(-pid_, SIGKILL);
  Disarm();
}

void Subprocess::Disarm() {
  if (guardian_fd_ >= 0) {
    (void)!send(guardian_fd_, "done\n", 5, MSG_NOSIGNAL);
    close(guardian_fd_);
    guardian_fd_ = -1;
  }
  if (guardian_ > 0) {
    waitpid(guardian_, nullptr, 0);
    guardian_ = -1;
  }
}

bool Subprocess::Running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    Reaped(status);
    return false;
  }
  return true;
}

Result<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(ErrorKind::kIo, "process " + std::to_string(pid_) + " did not exit within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_.value_or(-1);
}

void Subprocess::Signal(int signal) {
  if (pid_ > 0 && !exit_code_) kill(-pid_, signal);
}

int Subprocess::Stop(int signal, std::chrono::milliseconds grace) {
  Signal(signal);
  if (auto code = Wait(grace)) return *code;
  Signal(SIGKILL);
  int status = 0;
  if (pid_ > 0 && !exit_code_ && waitpid(pid_, &status, 0) == pid_) Reaped(status);
  return exit_code_.value_or(-1);
}

Result<CommandResult> RunCommand(SpawnOptions options, std::chrono::milliseconds timeout) {
  char path[] = "/tmp/walden-cmd-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return Fail(ErrorKind::kIo, std::string("mkstemp: ") + std::strerror(errno));
  close(fd);
  options.stdout_path = path;
  options.stderr_path.clear();
  auto process = Subprocess::Spawn(options);
  if (!process) {
    std::filesystem::remove(path);
    return std::unexpected(process.error());
  }
  auto code = process->Wait(timeout);
  if (!code) process->Stop(SIGKILL, std::chrono::milliseconds(0));
  std::ifstream in(path);
  std::stringstream output;
  output << in.rdbuf();
  std::filesystem::remove(path);
  if (!code) return Wrap(code.error(), options.argv[0]);
  return CommandResult{*code, output.str()};
}

}  // namespace walden
