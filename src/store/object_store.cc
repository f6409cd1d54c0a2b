#include "store/object_store.h"

#include <cstdlib>

#include "store/local_store.h"
#include "store/s3_store.h"

namespace walden::store {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenStore(const ArchiveConfig& config) {
  if (config.url.starts_with("file://")) {
    auto local = LocalStore::Open(config.url.substr(7));
    if (!local) return std::unexpected(local.error());
    return std::unique_ptr<ObjectStore>(std::move(*local));
  }
  if (!config.url.starts_with("s3://")) {
    return Fail(ErrorKind::kConfig, "archive.url must start with file:// or s3://");
  }
  const std::string rest = config.url.substr(5);
  const size_t slash = rest.find('/');
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  S3Options options{
      .bucket = rest.substr(0, slash),
      .prefix = prefix,
      .endpoint = config.endpoint,
      .region = config.region,
      .path_style = config.addressing == Addressing::kPath ||
                    (config.addressing == Addressing::kAuto && !config.endpoint.empty()),
      .access_key = Env("AWS_ACCESS_KEY_ID"),
      .secret_key = Env("AWS_SECRET_ACCESS_KEY"),
      .session_token = Env("AWS_SESSION_TOKEN")};
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  auto s3 = S3Store::Open(std::move(options));
  if (!s3) return std::unexpected(s3.error());
  return std::unique_ptr<ObjectStore>(std::move(*s3));
}

}  // namespace walden::store
