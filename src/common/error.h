// Error values shared by every module.
//
// Expected failures travel as `Result<T>` (std::expected) carrying an `Error`: a kind that
// decides the process exit code and a one-line message that says what is wrong and how to
// fix it. Messages never contain secrets; callers redact before formatting.
// Thread-safety: plain values.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace walden {

enum class ErrorKind {
  kUsage,        // bad command line or configuration: exit code 2
  kConfig,       // invalid configuration value: exit code 2
  kConnection,   // server unreachable, connection lost
  kAuth,         // authentication failed
  kPermission,   // missing privilege
  kNotFound,     // a named object does not exist
  kProtocol,     // malformed or unexpected bytes from a peer
  kIo,           // local file system or object store
  kResources,    // out of memory (DuckDB's limit): the same work in smaller pieces may pass
  kUnsupported,  // a feature or version walden does not handle
  kInternal,     // a bug in walden
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
};

// std::expected that must not be ignored: dropping a Result or Status is a compile error
// (warnings are errors in CI); `(void)` says on purpose.
template <class T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using Base = std::expected<T, Error>;
  using Base::Base;
  Result() = default;
  Result(Base base) : Base(std::move(base)) {}  // NOLINT: from std::expected's monadic ops
};
using Status = Result<void>;

inline std::unexpected<Error> Fail(ErrorKind kind, std::string message) {
  return std::unexpected(Error{kind, std::move(message)});
}

// Adds context in front of an error's message, keeping its kind.
inline std::unexpected<Error> Wrap(const Error& error, std::string_view context) {
  return std::unexpected(Error{error.kind, std::string(context) + ": " + error.message});
}

// Process exit code for an error that ends a command: 2 for usage and configuration
// mistakes, 1 for everything else.
// "connection", "io", ...: for metrics labels.
inline const char* KindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return "usage";
    case ErrorKind::kConfig:
      return "config";
    case ErrorKind::kConnection:
      return "connection";
    case ErrorKind::kAuth:
      return "auth";
    case ErrorKind::kPermission:
      return "permission";
    case ErrorKind::kNotFound:
      return "not_found";
    case ErrorKind::kProtocol:
      return "protocol";
    case ErrorKind::kIo:
      return "io";
    case ErrorKind::kResources:
      return "resources";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "unknown";
}

inline int ExitCodeFor(ErrorKind kind) {
  return kind == ErrorKind::kUsage || kind == ErrorKind::kConfig ? 2 : 1;
}

}  // namespace walden
