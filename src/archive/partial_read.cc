#include "archive/partial_read.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "archive/parquet_footer.h"
#include "common/checksum.h"

namespace walden::archive {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kMagic = "PAR1";

Error Damaged(const SegmentFile& file, std::string_view what) {
  return Error{ErrorKind::kIo,
               fmt::format("archive file {}: {} does not match the checksum its commit recorded "
                           "(its bytes changed after it was written); restore it from a backup "
                           "of the bucket, or run `walden resync` to start the history over "
                           "(walden archive verify lists every damaged file)",
                           file.key, what)};
}

// The ranges before merging: magic, each chosen row group, the footer.
std::vector<ByteRange> Pieces(const SegmentFile& file, const std::vector<size_t>& groups) {
  std::vector<ByteRange> pieces = {{0, static_cast<int64_t>(kMagic.size())}};
  for (size_t g : groups) pieces.push_back({file.row_groups[g].offset, file.row_groups[g].length});
  pieces.push_back({file.FooterOffset(), file.bytes - file.FooterOffset()});
  return pieces;
}

Result<std::string> ReadAt(const std::string& path, int64_t offset, int64_t length) {
  std::ifstream in(path, std::ios::binary);
  std::string data(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(data.data(), length);
  if (!in || in.gcount() != length) {
    return Fail(ErrorKind::kIo,
                fmt::format("cannot read bytes {}-{} of {}", offset, offset + length - 1, path));
  }
  return data;
}

// The footer a copy with `groups` ends with, from the original footer's bytes.
Result<std::string> RewrittenFooter(const SegmentFile& file, const std::vector<size_t>& groups,
                                    std::string_view original) {
  constexpr size_t kTrailer = 8;  // metadata length (u32, little endian) and the magic
  if (original.size() < kTrailer || original.substr(original.size() - 4) != kMagic) {
    return std::unexpected(Damaged(file, "its footer"));
  }
  const auto* tail = reinterpret_cast<const unsigned char*>(original.data() + original.size() - 8);
  const size_t length = tail[0] | (tail[1] << 8) | (tail[2] << 16) | (size_t{tail[3]} << 24);
  if (length > original.size() - kTrailer) return std::unexpected(Damaged(file, "its footer"));
  const std::string_view metadata = original.substr(original.size() - kTrailer - length, length);
  auto count = CountRowGroups(metadata);
  if (!count) return std::unexpected(count.error());
  if (*count != file.row_groups.size()) {
    return Fail(ErrorKind::kIo, fmt::format("archive file {} has {} row groups, its commit says {}",
                                            file.key, *count, file.row_groups.size()));
  }
  auto kept = KeepRowGroups(metadata, groups);
  if (!kept) return kept;
  const auto size = static_cast<uint32_t>(kept->size());
  for (int shift = 0; shift < 32; shift += 8) *kept += static_cast<char>((size >> shift) & 0xff);
  *kept += kMagic;
  return kept;
}

}  // namespace

std::vector<ByteRange> RangesFor(const SegmentFile& file, const std::vector<size_t>& groups) {
  std::vector<ByteRange> merged;
  for (const ByteRange& piece : Pieces(file, groups)) {
    if (!merged.empty() && merged.back().offset + merged.back().length == piece.offset) {
      merged.back().length += piece.length;
    } else {
      merged.push_back(piece);
    }
  }
  return merged;
}

std::string PartialCopyPath(const std::string& cache_dir, const SegmentFile& file,
                            const std::vector<size_t>& groups) {
  std::string list;
  for (size_t g : groups) list += (list.empty() ? "" : ".") + std::to_string(g);
  if (list.size() > 64) list = Sha256Hex(list).substr(0, 16);
  return fmt::format("{}/{}.rg-{}.parquet", cache_dir, file.key, list);
}

Status CheckPartialCopy(const SegmentFile& file, const std::vector<size_t>& groups,
                        const std::string& path) {
  const std::vector<ByteRange> pieces = Pieces(file, groups);
  auto magic = ReadAt(path, 0, static_cast<int64_t>(kMagic.size()));
  if (!magic) return std::unexpected(magic.error());
  if (*magic != kMagic) return std::unexpected(Damaged(file, "its first bytes"));
  for (size_t i = 0; i < groups.size(); ++i) {
    const ByteRange& piece = pieces[i + 1];
    auto digest = Sha256OfFileRange(path, piece.offset, piece.length);
    if (!digest) return std::unexpected(digest.error());
    if (*digest != file.row_groups[groups[i]].sha256) {
      return std::unexpected(Damaged(file, fmt::format("row group {}", groups[i])));
    }
  }
  auto original = ReadAt(path, pieces.back().offset, pieces.back().length);
  if (!original) return std::unexpected(original.error());
  if (Sha256Hex(*original) != file.footer_sha256)
    return std::unexpected(Damaged(file, "its footer"));
  auto footer = RewrittenFooter(file, groups, *original);
  if (!footer) return std::unexpected(footer.error());
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  auto written = ReadAt(path, file.bytes, size - file.bytes);
  if (ec || !written || *written != *footer) {
    return Fail(ErrorKind::kIo, "the local copy " + path + " is damaged; remove it");
  }
  return {};
}

Result<std::string> FetchRowGroups(store::ObjectStore& store, const SegmentFile& file,
                                   const std::vector<size_t>& groups,
                                   const std::string& cache_dir) {
  const std::string path = PartialCopyPath(cache_dir, file, groups);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    // Used now: the cache keeps what is read most recently (store::TrimCache).
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
    if (CheckPartialCopy(file, groups, path)) return path;
    // The local copy changed (a disk error, a hand edit): fetch it again from the store.
    spdlog::warn("query: the local copy {} does not match the archive; fetching it again", path);
    fs::remove(path, ec);
  }
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string temporary = fmt::format("{}.{}.tmp", path, std::random_device{}());
  // Writes past the end leave holes: the copy takes the disk space of what was fetched.
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  auto write_at = [&](std::string_view data, int64_t offset) -> Status {
    out.seekp(offset);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out)
      return Fail(ErrorKind::kIo, "cannot write " + temporary + ": " + std::strerror(errno));
    return {};
  };
  auto fail = [&](Error error) -> Result<std::string> {
    fs::remove(temporary, ec);
    return std::unexpected(std::move(error));
  };
  std::string last;  // the last range ends with the footer
  for (const ByteRange& range : RangesFor(file, groups)) {
    auto data = store.GetRange(file.key, range.offset, range.length);
    if (!data) return fail(data.error());
    if (auto ok = write_at(*data, range.offset); !ok) return fail(ok.error());
    last = std::move(*data);
  }
  const auto footer_length = static_cast<size_t>(file.bytes - file.FooterOffset());
  if (last.size() < footer_length) return fail(Damaged(file, "its footer"));
  const std::string_view original = std::string_view(last).substr(last.size() - footer_length);
  if (Sha256Hex(original) != file.footer_sha256) return fail(Damaged(file, "its footer"));
  auto footer = RewrittenFooter(file, groups, original);
  if (!footer) return fail(footer.error());
  if (auto ok = write_at(*footer, file.bytes); !ok) return fail(ok.error());
  out.close();
  if (!out) return fail(Error{ErrorKind::kIo, "cannot write " + temporary});
  if (auto intact = CheckPartialCopy(file, groups, temporary); !intact) return fail(intact.error());
  fs::rename(temporary, path, ec);
  if (ec) return fail(Error{ErrorKind::kIo, "cannot rename " + temporary + ": " + ec.message()});
  return path;
}

}  // namespace walden::archive
