// libFuzzer target for the pgoutput decoder: any bytes must decode or fail cleanly, never
// crash, hang, leak or read out of bounds (ASan + UBSan are on in the fuzz build).
#include <cstddef>
#include <cstdint>
#include <span>

#include "pg/pgoutput.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the context a message can arrive in.
  const bool in_stream = data[0] & 1;
  auto decoded = walden::pg::pgoutput::Decode(std::span(data + 1, size - 1), in_stream);
  if (decoded) {
    // Touch the result so that nothing is optimized away.
    volatile size_t index = decoded->index();
    (void)index;
  }
  return 0;
}
