#include "tests/support/s3_server.h"

#include <curl/curl.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "pg/local_server.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

Result<std::pair<long, std::string>> HttpGet(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (!curl) return Fail(ErrorKind::kInternal, "curl_easy_init failed");
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) return Fail(ErrorKind::kConnection, curl_easy_strerror(code));
  return std::pair{status, body};
}

Result<std::unique_ptr<S3Server>> S3Server::Start(std::string bucket) {
  std::unique_ptr<S3Server> server(new S3Server());
  server->bucket_ = std::move(bucket);
  std::string pattern = (std::filesystem::temp_directory_path() / "walden-s3-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return Fail(ErrorKind::kIo, "mkdtemp failed for s3rver");
  server->dir_ = pattern;
  auto port = pg::FreeLoopbackPort();
  if (!port) return std::unexpected(port.error());
  server->port_ = *port;
  if (auto launched = server->Launch(); !launched) return std::unexpected(launched.error());
  return server;
}

Status S3Server::Launch() {
  const std::string script = std::string(WALDEN_SOURCE_DIR) + "/node_modules/s3rver/bin/s3rver.js";
  // s3rver encrypts ListObjectsV2 continuation tokens with a cipher OpenSSL 3 only offers
  // through its legacy provider; without it, every truncated listing is an HTTP 500.
  auto process =
      Subprocess::Spawn({.argv = {"node", "--openssl-legacy-provider", script, "-d", dir_ + "/data",
                                  "-a", "127.0.0.1", "-p", std::to_string(port_),
                                  "--configure-bucket", bucket_, "--silent"},
                         .stdout_path = dir_ + "/s3rver.log",
                         .append_output = true,
                         .scratch_dir = dir_});
  if (!process) return std::unexpected(process.error());
  process_.emplace(std::move(*process));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->Running()) {
      return Fail(ErrorKind::kIo, "s3rver exited during start-up; see " + dir_ +
                                      "/s3rver.log "
                                      "(is node installed and node_modules set up by "
                                      "scripts/setup.sh?)");
    }
    auto probe = HttpGet(endpoint() + "/" + bucket_);
    if (probe && probe->first == 200) return {};
    std::this_thread::sleep_for(50ms);
  }
  return Fail(ErrorKind::kIo, "s3rver did not answer within 30 s");
}

void S3Server::Stop() {
  if (process_) process_->Stop(SIGTERM, 5s);
  process_.reset();
}

Status S3Server::Restart() {
  Stop();
  return Launch();
}

S3Server::~S3Server() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace walden::testing
