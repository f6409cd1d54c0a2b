// A real S3 protocol server for tests: s3rver (from node_modules) on a free loopback port,
// with one bucket created at start, data in a temporary directory removed afterwards.
// Credentials: s3rver accepts access key "S3RVER" with secret "S3RVER".
// Thread-safety: one owner.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/subprocess.h"

namespace walden::testing {

class S3Server {
 public:
  static Result<std::unique_ptr<S3Server>> Start(std::string bucket = "walden-test");
  ~S3Server();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& bucket() const { return bucket_; }
  int port() const { return port_; }
  static constexpr const char* kAccessKey = "S3RVER";
  static constexpr const char* kSecretKey = "S3RVER";

  // Stops the server (to test outages) and starts it again on the same port and data.
  void Stop();
  Status Restart();

 private:
  S3Server() = default;
  Status Launch();

  std::string bucket_;
  std::string dir_;
  int port_ = 0;
  std::optional<Subprocess> process_;
};

// Plain HTTP GET (no signing): status code and body. For probing test servers.
Result<std::pair<long, std::string>> HttpGet(const std::string& url);

}  // namespace walden::testing
