// What every benchmark needs: stop with the error on the first failure (a benchmark has no
// one to report to but its reader). Thread-safety: plain functions.
#pragma once

#include <fmt/core.h>

#include <cstdlib>
#include <fstream>
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

}  // namespace walden::bench
