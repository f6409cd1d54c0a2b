#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace walden {

std::unexpected<Error> IoError(const std::string& what, const std::string& path) {
  return Fail(ErrorKind::kIo, what + " " + path + ": " + std::strerror(errno));
}

Status FsyncPath(const std::string& path, int flags) {
  const int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", path);
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return IoError("cannot fsync", path);
  return {};
}

Status WriteAll(const std::string& path, std::string_view data) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create", path);
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto failed = IoError("cannot write", path);
      close(fd);
      std::error_code ec;
      std::filesystem::remove(path, ec);
      return failed;
    }
    written += static_cast<size_t>(n);
  }
  close(fd);
  return {};
}

Status WriteFileAtomically(const std::string& path, std::string_view data) {
  const std::string temp = path + ".tmp";
  if (auto ok = WriteAll(temp, data); !ok) return ok;
  if (auto ok = FsyncPath(temp, O_RDONLY); !ok) return ok;
  if (std::rename(temp.c_str(), path.c_str()) != 0) return IoError("cannot rename into", path);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return FsyncPath(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace walden
