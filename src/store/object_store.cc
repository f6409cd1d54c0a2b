#include "store/object_store.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>

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

Result<std::string> ObjectStore::GetRange(std::string_view key, int64_t offset, int64_t length) {
  auto data = Get(key);
  if (!data) return data;
  if (offset < 0 || length < 0 || std::cmp_greater(offset + length, data->size())) {
    return Fail(ErrorKind::kIo,
                fmt::format("{}/{} has no bytes {}-{}", url(), key, offset, offset + length - 1));
  }
  return data->substr(static_cast<size_t>(offset), static_cast<size_t>(length));
}

bool IsLocal(const ObjectStore& store) { return store.url().starts_with("file://"); }

Result<std::string> LocalPath(ObjectStore& store, const std::string& key,
                              const std::string& cache_dir) {
  if (IsLocal(store)) return store.url().substr(7) + "/" + key;
  const std::string path = cache_dir + "/" + key;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    // Used now: the cache keeps what is read most recently (TrimCache).
    std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ec);
  } else {
    auto data = store.Get(key);
    if (!data) return std::unexpected(data.error());
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(data->data(), static_cast<std::streamsize>(data->size()));
    if (!out) return Fail(ErrorKind::kIo, "cannot write " + path);
  }
  return path;
}

Result<int64_t> TrimCache(const std::string& cache_dir, int64_t limit, std::chrono::seconds spare) {
  namespace fs = std::filesystem;
  struct Cached {
    fs::file_time_type used;
    int64_t bytes;
    fs::path path;
  };
  std::vector<Cached> files;
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cache_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    // Copies of some row groups are sparse files: what they take is their allocated blocks.
    struct stat info {};
    auto bytes = static_cast<int64_t>(it->file_size(ec));
    if (::stat(it->path().c_str(), &info) == 0) {
      bytes = std::min<int64_t>(bytes, static_cast<int64_t>(info.st_blocks) * 512);
    }
    files.push_back({it->last_write_time(ec), bytes, it->path()});
    total += bytes;
  }
  std::ranges::sort(files, {}, &Cached::used);
  const auto spared_after = fs::file_time_type::clock::now() - spare;
  int64_t removed = 0;
  for (const Cached& file : files) {
    if (total - removed <= limit || file.used >= spared_after) break;
    if (fs::remove(file.path, ec)) removed += file.bytes;
  }
  return removed;
}

}  // namespace walden::store
