#include "store/local_store.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/files.h"

namespace walden::store {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> IoError(const std::string& what, const std::string& path) {
  return Fail(ErrorKind::kIo, what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

Status ValidateKey(std::string_view key) {
  bool ok = !key.empty() && key.front() != '/' && key.back() != '/';
  size_t start = 0;
  while (ok && start <= key.size()) {
    const size_t end = std::min(key.find('/', start), key.size());
    const std::string_view segment = key.substr(start, end - start);
    ok = !segment.empty() && segment != "." && segment != "..";
    start = end + 1;
  }
  if (!ok) return Fail(ErrorKind::kInternal, "invalid object key '" + std::string(key) + "'");
  return {};
}

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec || !fs::is_directory(root)) {
    return Fail(ErrorKind::kIo, "cannot create archive directory " + root + ": " +
                                    (ec ? ec.message() : "not a directory") +
                                    " (check archive.url and permissions)");
  }
  if (access(root.c_str(), W_OK) != 0) {
    return Fail(ErrorKind::kPermission,
                "archive directory " + root + " is not writable by this user");
  }
  return std::unique_ptr<LocalStore>(new LocalStore(fs::path(root).lexically_normal().string()));
}

Status LocalStore::WriteAtomically(std::string_view key, std::string_view data,
                                   const std::string* source) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  static std::atomic<uint64_t> counter{0};
  const fs::path target = fs::path(root_) / key;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec)
    return Fail(ErrorKind::kIo,
                "cannot create " + target.parent_path().string() + ": " + ec.message());
  const std::string temp =
      target.parent_path() / (".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  if (source) {
    fs::copy_file(*source, temp, fs::copy_options::overwrite_existing, ec);
    if (ec)
      return Fail(ErrorKind::kIo, "cannot copy " + *source + " to " + temp + ": " + ec.message());
  } else if (auto ok = WriteAll(temp, data); !ok) {
    return ok;
  }
  if (auto synced = FsyncPath(temp, O_RDONLY); !synced) return synced;
  if (rename(temp.c_str(), target.c_str()) != 0) return IoError("cannot rename into", target);
  return FsyncPath(target.parent_path().string(), O_RDONLY | O_DIRECTORY);
}

Status LocalStore::Put(std::string_view key, std::string_view data) {
  return WriteAtomically(key, data, nullptr);
}

Status LocalStore::PutFile(std::string_view key, const std::string& path) {
  return WriteAtomically(key, {}, &path);
}

Result<std::string> LocalStore::Get(std::string_view key) { return Read(key, 0, std::nullopt); }

Result<std::string> LocalStore::GetRange(std::string_view key, int64_t offset, int64_t length) {
  return Read(key, offset, std::max<int64_t>(length, 0));
}

Result<std::string> LocalStore::Read(std::string_view key, int64_t offset,
                                     std::optional<int64_t> length) {
  if (auto valid = ValidateKey(key); !valid) return std::unexpected(valid.error());
  const std::string path = (fs::path(root_) / key).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT)
      return Fail(ErrorKind::kNotFound, "no object " + url() + "/" + std::string(key));
    return IoError("cannot read", path);
  }
  if (!length) {
    std::ostringstream data;
    data << in.rdbuf();
    return data.str();
  }
  std::string data(static_cast<size_t>(*length), '\0');
  in.seekg(offset);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (std::cmp_not_equal(in.gcount(), data.size())) {
    return Fail(ErrorKind::kIo,
                fmt::format("{} has no bytes {}-{}", path, offset, offset + *length - 1));
  }
  return data;
}

Result<std::vector<ObjectInfo>> LocalStore::List(std::string_view prefix) {
  std::vector<ObjectInfo> objects;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string key = fs::relative(it->path(), root_).generic_string();
    if (it->path().filename().string().starts_with(".tmp-")) continue;
    if (!key.starts_with(prefix)) continue;
    const auto modified = std::chrono::file_clock::to_sys(it->last_write_time());
    objects.push_back(
        {key, static_cast<int64_t>(it->file_size()),
         std::chrono::duration_cast<std::chrono::microseconds>(modified.time_since_epoch())
             .count()});
  }
  if (ec) return Fail(ErrorKind::kIo, "cannot list " + root_ + ": " + ec.message());
  std::sort(objects.begin(), objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return objects;
}

Status LocalStore::Delete(std::string_view key) {
  if (auto valid = ValidateKey(key); !valid) return valid;
  std::error_code ec;
  fs::remove(fs::path(root_) / key, ec);
  if (ec) return Fail(ErrorKind::kIo, "cannot delete " + std::string(key) + ": " + ec.message());
  return {};
}

}  // namespace walden::store
