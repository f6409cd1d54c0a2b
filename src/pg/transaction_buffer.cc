#include "pg/transaction_buffer.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/byte_reader.h"

namespace walden::pg {
namespace {

void WriteTuple(ByteWriter& w, const pgoutput::Tuple& tuple) {
  w.U32(static_cast<uint32_t>(tuple.values.size()));
  for (const pgoutput::Value& v : tuple.values) {
    w.U8(static_cast<uint8_t>(v.kind));
    w.U32(v.length);
  }
  w.U32(static_cast<uint32_t>(tuple.bytes.size()));
  w.Bytes(tuple.bytes);
}

bool ReadTuple(ByteReader& r, pgoutput::Tuple& tuple) {
  const uint32_t count = r.U32();
  if (!r.ok() || count > r.remaining() / 5) return false;
  tuple.values.resize(count);
  uint32_t offset = 0;
  for (pgoutput::Value& v : tuple.values) {
    v.kind = static_cast<pgoutput::ValueKind>(r.U8());
    v.length = r.U32();
    v.offset = offset;
    offset += v.length;
  }
  const uint32_t size = r.U32();
  if (!r.ok() || size != offset) return false;
  tuple.bytes = r.Bytes(size);
  return r.ok();
}

}  // namespace

TransactionBuffer::~TransactionBuffer() {
  if (spill_) std::fclose(spill_);
  if (!spill_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(spill_path_, ec);
  }
}

size_t TransactionBuffer::Footprint(const Change& change) {
  return sizeof(Change) + change.old_tuple.bytes.capacity() + change.new_tuple.bytes.capacity() +
         (change.old_tuple.values.capacity() + change.new_tuple.values.capacity()) *
             sizeof(pgoutput::Value) +
         change.content.capacity() + change.truncated.capacity() * 16;
}

size_t TransactionBuffer::Add(Change change) {
  const size_t bytes = Footprint(change);
  changes_.push_back(std::move(change));
  memory_bytes_ += bytes;
  ++count_;
  return bytes;
}

size_t TransactionBuffer::AbortSubtransaction(uint32_t subxid) {
  aborted_.insert(subxid);
  size_t freed = 0;
  const size_t before = changes_.size();
  std::erase_if(changes_, [&](const Change& c) {
    if (c.xid != subxid) return false;
    freed += Footprint(c);
    return true;
  });
  count_ -= before - changes_.size();
  memory_bytes_ -= freed;
  return freed;
}

uint32_t TransactionBuffer::RelationIndex(const std::shared_ptr<const RelationInfo>& relation) {
  if (!relation) return UINT32_MAX;
  auto [it, inserted] =
      relation_index_.emplace(relation.get(), static_cast<uint32_t>(relations_.size()));
  if (inserted) relations_.push_back(relation);
  return it->second;
}

void TransactionBuffer::Serialize(const Change& c, std::string& out) {
  ByteWriter w;
  w.U8(static_cast<uint8_t>(c.kind));
  w.U32(c.xid);
  w.U32(RelationIndex(c.relation));
  w.U8(static_cast<uint8_t>(c.old_kind));
  WriteTuple(w, c.old_tuple);
  WriteTuple(w, c.new_tuple);
  w.U32(static_cast<uint32_t>(c.truncated.size()));
  for (const auto& rel : c.truncated) w.U32(RelationIndex(rel));
  w.U8(c.truncate_options);
  w.U32(static_cast<uint32_t>(c.prefix.size()));
  w.Bytes(c.prefix);
  w.U32(static_cast<uint32_t>(c.content.size()));
  w.Bytes(c.content);
  // Schema changes are never spilled on their own: they carry their relation version,
  // whose Diff can be recomputed; keep the lists for exactness anyway.
  for (const auto* list :
       {&c.schema_change.added, &c.schema_change.dropped, &c.schema_change.retyped}) {
    w.U32(static_cast<uint32_t>(list->size()));
    for (const std::string& name : *list) w.CString(name);
  }
  w.U8(static_cast<uint8_t>(c.schema_change.key_changed | (c.schema_change.renamed << 1)));
  ByteWriter framed;
  framed.U32(static_cast<uint32_t>(w.data().size()));
  out += framed.data();
  out += w.data();
}

Result<Change> TransactionBuffer::Deserialize(std::string_view record) const {
  ByteReader r(record.data(), record.size());
  Change c;
  c.kind = static_cast<Change::Kind>(r.U8());
  c.xid = r.U32();
  auto relation = [&](uint32_t index) -> std::shared_ptr<const RelationInfo> {
    if (index == UINT32_MAX) return nullptr;
    if (index >= relations_.size()) {
      r.Fail();
      return nullptr;
    }
    return relations_[index];
  };
  c.relation = relation(r.U32());
  c.old_kind = static_cast<char>(r.U8());
  if (!ReadTuple(r, c.old_tuple) || !ReadTuple(r, c.new_tuple)) r.Fail();
  const uint32_t truncated = r.U32();
  if (truncated > r.remaining() / 4) r.Fail();
  for (uint32_t i = 0; r.ok() && i < truncated; ++i) c.truncated.push_back(relation(r.U32()));
  c.truncate_options = r.U8();
  c.prefix = r.Bytes(r.U32());
  c.content = r.Bytes(r.U32());
  for (auto* list : {&c.schema_change.added, &c.schema_change.dropped, &c.schema_change.retyped}) {
    const uint32_t n = r.U32();
    for (uint32_t i = 0; r.ok() && i < n; ++i) list->emplace_back(r.CString());
  }
  const uint8_t flags = r.U8();
  c.schema_change.key_changed = flags & 1;
  c.schema_change.renamed = flags & 2;
  if (!r.AtEnd()) {
    return Fail(ErrorKind::kIo, "spill file " + spill_path_ + " is corrupt");
  }
  return c;
}

Result<size_t> TransactionBuffer::Spill(const std::string& path) {
  if (!spill_) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    spill_ = std::fopen(path.c_str(), "w+b");
    if (!spill_) {
      return Fail(ErrorKind::kIo, "cannot create spill file " + path + ": " + std::strerror(errno) +
                                      " (check data_dir)");
    }
    spill_path_ = path;
  }
  std::string out;
  for (const Change& change : changes_) Serialize(change, out);
  if (std::fwrite(out.data(), 1, out.size(), spill_) != out.size()) {
    return Fail(ErrorKind::kIo, "cannot write spill file " + spill_path_ + ": " +
                                    std::strerror(errno) + " (is the disk full?)");
  }
  changes_.clear();
  changes_.shrink_to_fit();
  memory_bytes_ = 0;
  return out.size();
}

Status TransactionBuffer::ForEach(const std::function<Status(const Change&)>& visit) const {
  if (spill_) {
    std::fflush(spill_);
    std::rewind(spill_);
    std::string record;
    while (true) {
      unsigned char header[4];
      const size_t got = std::fread(header, 1, 4, spill_);
      if (got == 0) break;
      const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                            (uint32_t{header[2]} << 8) | header[3];
      record.resize(size);
      if (got != 4 || std::fread(record.data(), 1, size, spill_) != size) {
        return Fail(ErrorKind::kIo, "spill file " + spill_path_ + " is truncated");
      }
      auto change = Deserialize(record);
      if (!change) return std::unexpected(change.error());
      if (aborted_.contains(change->xid)) continue;
      if (auto ok = visit(*change); !ok) return ok;
    }
    std::fseek(spill_, 0, SEEK_END);
  }
  for (const Change& change : changes_) {
    if (auto ok = visit(change); !ok) return ok;
  }
  return {};
}

}  // namespace walden::pg
