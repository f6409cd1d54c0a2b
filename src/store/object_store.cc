#include "store/object_store.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

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

Result<std::string> LocalPath(ObjectStore& store, const std::string& key,
                              const std::string& cache_dir) {
  const std::string url = store.url();
  if (url.starts_with("file://")) return url.substr(7) + "/" + key;
  const std::string path = cache_dir + "/" + key;
  if (!std::filesystem::exists(path)) {
    auto data = store.Get(key);
    if (!data) return std::unexpected(data.error());
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(data->data(), static_cast<std::streamsize>(data->size()));
    if (!out) return Fail(ErrorKind::kIo, "cannot write " + path);
  }
  return path;
}

}  // namespace walden::store
