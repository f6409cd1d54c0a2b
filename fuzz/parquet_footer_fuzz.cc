// libFuzzer target for the Parquet footer walden rewrites for ranged reads (the footer comes
// from the archive's bucket: untrusted bytes). Any bytes must parse or fail cleanly; a
// footer that parses keeps exactly the row groups asked for and parses again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "archive/parquet_footer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte chooses which of the first eight row groups to keep.
  std::vector<size_t> keep;
  for (size_t bit = 0; bit < 8; ++bit) {
    if (data[0] & (1u << bit)) keep.push_back(bit);
  }
  const std::string_view metadata(reinterpret_cast<const char*>(data + 1), size - 1);
  auto count = walden::archive::CountRowGroups(metadata);
  auto kept = walden::archive::KeepRowGroups(metadata, keep);
  if (kept) {
    auto again = walden::archive::CountRowGroups(*kept);
    if (!count || !again || *again != keep.size()) std::abort();
  }
  return 0;
}
