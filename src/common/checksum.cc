#include "common/checksum.h"

#include <fmt/core.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

namespace walden {
namespace {

std::string Hex(const unsigned char* digest, unsigned int size) {
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Result<Context> NewContext() {
  Context context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return Fail(ErrorKind::kInternal, "SHA-256 is not available");
  }
  return context;
}

std::string Final(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context, digest, &size);
  return Hex(digest, size);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

Result<std::string> Sha256OfFile(const std::string& path) {
  auto digests = Sha256OfFileParts(path, {});
  if (!digests) return std::unexpected(digests.error());
  return std::move(digests->front());
}

Result<std::vector<std::string>> Sha256OfFileParts(const std::string& path,
                                                   const std::vector<int64_t>& starts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorKind::kIo, "cannot read " + path + ": " + std::strerror(errno));
  auto whole = NewContext();
  if (!whole) return std::unexpected(whole.error());
  std::vector<std::string> digests(1);
  std::optional<Context> part;
  size_t next = 0;  // the next part's index in `starts`
  int64_t offset = 0;
  std::vector<char> block(1 << 20);
  while (in) {
    int64_t want = static_cast<int64_t>(block.size());
    if (next < starts.size()) want = std::min(want, std::max<int64_t>(starts[next] - offset, 0));
    if (want == 0) {  // a part starts here
      if (part) digests.push_back(Final(part->get()));
      auto started = NewContext();
      if (!started) return std::unexpected(started.error());
      part = std::move(*started);
      ++next;
      continue;
    }
    in.read(block.data(), static_cast<std::streamsize>(want));
    const auto got = static_cast<size_t>(in.gcount());
    EVP_DigestUpdate(whole->get(), block.data(), got);
    if (part) EVP_DigestUpdate(part->get(), block.data(), got);
    offset += static_cast<int64_t>(got);
  }
  if (in.bad()) return Fail(ErrorKind::kIo, "cannot read " + path + ": " + std::strerror(errno));
  if (next < starts.size()) {
    return Fail(ErrorKind::kIo, fmt::format("{} ends at byte {}, before its part at {}", path,
                                            offset, starts[next]));
  }
  digests.front() = Final(whole->get());
  if (part) digests.push_back(Final(part->get()));
  return digests;
}

Result<std::string> Sha256OfFileRange(const std::string& path, int64_t offset, int64_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorKind::kIo, "cannot read " + path + ": " + std::strerror(errno));
  auto context = NewContext();
  if (!context) return std::unexpected(context.error());
  in.seekg(offset);
  std::vector<char> block(1 << 20);
  for (int64_t left = length; left > 0;) {
    in.read(block.data(),
            std::min<std::streamsize>(left, static_cast<std::streamsize>(block.size())));
    if (in.gcount() <= 0) {
      return Fail(ErrorKind::kIo,
                  fmt::format("{} has no bytes {}-{}", path, offset, offset + length - 1));
    }
    EVP_DigestUpdate(context->get(), block.data(), static_cast<size_t>(in.gcount()));
    left -= in.gcount();
  }
  return Final(context->get());
}

}  // namespace walden
