// What every benchmark needs: stop with the error on the first failure (a benchmark has no
// one to report to but its reader). Thread-safety: plain functions.
#pragma once

#include <fmt/core.h>

#include <cstdlib>

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

}  // namespace walden::bench
