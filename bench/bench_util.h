// What every benchmark needs: stop with the error on the first failure (a benchmark has no
// one to report to but its reader). Thread-safety: plain functions.
#pragma once

#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common/error.h"

namespace walden::bench {

template <class T>
T Must(Result<T> result, const char* what) {
  if (!result) {
    fmt::print(stderr, "{}: {}\n", what, result.error().message);
    std::exit(1);
  }
  return std::move(*result);
}

inline void Must(Status status, const char* what) {
  if (!status) {
    fmt::print(stderr, "{}: {}\n", what, status.error().message);
    std::exit(1);
  }
}

// `--json=FILE`: the scenario's figures as one JSON object per line, appended (bench/run.sh
// collects them into docs/benchmarks.md). No file: nothing written.
inline std::string JsonPath(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).starts_with("--json=")) return argv[i] + 7;
  }
  return "";
}
inline void AppendJson(const std::string& path, const std::string& object) {
  if (path.empty()) return;
  std::ofstream(path, std::ios::app) << object << "\n";
}

// Peak resident set of a running process so far (VmHWM), in bytes.
inline int64_t PeakRss(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmHWM:")) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

// CPU seconds so far: this process's (user + system), and the whole machine's busy and
// total time over all cores (/proc/stat). Differences of two readings give who used what.
struct CpuTimes {
  double process = 0;
  double machine_busy = 0;
  double machine_total = 0;
};
inline CpuTimes ReadCpuTimes() {
  CpuTimes times;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  times.process = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  times.machine_busy = (user + nice + system + irq + softirq + steal) / tick;
  times.machine_total = times.machine_busy + (idle + iowait) / tick;
  return times;
}

// CPU seconds (utime + stime) in a /proc stat file: a process's or one thread's.
inline double StatCpu(const std::string& stat_path) {
  std::ifstream stat(stat_path);
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  if (text.rfind(')') == std::string::npos) return 0;
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt
  double user = 0, system = 0;
  fields >> user >> system;
  return (user + system) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline double ProcessCpu(pid_t pid) { return StatCpu("/proc/" + std::to_string(pid) + "/stat"); }

// CPU seconds of a process's live threads, summed by thread name (walden names its threads:
// common/thread_name.h).
inline std::map<std::string, double> ThreadCpu(pid_t pid) {
  std::map<std::string, double> by_name;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    by_name[name] += StatCpu((task.path() / "stat").string());
  }
  return by_name;
}

// CPU seconds of this process's waited-for children (user + system).
inline double ChildrenCpu() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace walden::bench
