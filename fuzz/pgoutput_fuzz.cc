// libFuzzer target for everything walden reads from the replication socket: the pgoutput
// decoder, transaction assembly over message sequences, and the text and binary value
// parsers. Any bytes must decode or fail cleanly, never crash, hang, leak or read out of
// bounds (ASan + UBSan are on in the fuzz build).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/byte_reader.h"
#include "pg/assembler.h"
#include "pg/pgoutput.h"
#include "pg/types.h"

namespace {

using namespace walden;

// Messages framed as: u16 length, bytes. Fed through decoder and assembler in order.
void FuzzSequence(std::span<const uint8_t> data) {
  pg::Assembler assembler({.memory_limit = 4096, .spill_dir = "/tmp/walden-fuzz-spill"});
  ByteReader r(data.data(), data.size());
  while (r.remaining() >= 2) {
    const uint16_t length = static_cast<uint16_t>(r.I16());
    const std::string_view message = r.Bytes(std::min<size_t>(length, r.remaining()));
    auto decoded = pg::pgoutput::Decode(message, assembler.in_stream());
    if (!decoded) continue;
    auto committed = assembler.Add(std::move(*decoded));
    if (committed && *committed) {
      (void)(*committed)->ForEach([](const pg::Change& change) -> Status {
        if (change.relation && change.kind != pg::Change::Kind::kSchemaChange) {
          (void)pg::ParseTuple(*change.relation, change.kind == pg::Change::Kind::kDelete
                                                     ? change.old_tuple
                                                     : change.new_tuple);
        }
        return {};
      });
    }
  }
}

// One value of a type chosen by the first byte, as text and as binary.
void FuzzValue(std::span<const uint8_t> data) {
  if (data.empty()) return;
  static constexpr uint32_t kOids[] = {16,  21,   23,   20,   700,  701,  1700, 25,
                                       17,  1082, 1083, 1266, 1114, 1184, 1186, 2950,
                                       114, 3802, 1007, 1009, 1231, 1182, 1187, 1115};
  const uint32_t oid = kOids[data[0] % std::size(kOids)];
  const int32_t typmod = oid == 1700 || oid == 1231 ? ((12 << 16) | 3) + 4 : -1;
  const ColumnType type = pg::MapType(oid, typmod);
  const std::string_view bytes(reinterpret_cast<const char*>(data.data() + 1), data.size() - 1);
  (void)pg::ParseText(type, bytes);
  (void)pg::ParseBinary(type, bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      // The low bit picks the context a single message can arrive in.
      auto decoded = pg::pgoutput::Decode(rest, data[0] & 1);
      if (decoded) {
        volatile size_t index = decoded->index();
        (void)index;
      }
      break;
    }
    case 2:
      FuzzSequence(rest);
      break;
    default:
      FuzzValue(rest);
      break;
  }
  return 0;
}
