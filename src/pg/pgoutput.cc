#include "pg/pgoutput.h"

#include <fmt/core.h>

#include "common/byte_reader.h"

namespace walden::pg::pgoutput {
namespace {

// Far above PostgreSQL's 1600 columns per table, far below anything that hurts.
constexpr int kMaxColumns = 1664;

std::unexpected<Error> Malformed(char type, std::string_view what) {
  const std::string shown = type >= 0x20 && type < 0x7f ? fmt::format("'{}'", type)
                                                        : fmt::format("0x{:02x}", uint8_t(type));
  return Fail(ErrorKind::kProtocol, fmt::format("malformed pgoutput message {}: {}", shown, what));
}

bool ReadTuple(ByteReader& r, Tuple& tuple) {
  const int16_t count = r.I16();
  // Each column takes at least one byte; a count beyond that is a lie.
  if (!r.ok() || count < 0 || count > kMaxColumns || static_cast<size_t>(count) > r.remaining()) {
    return false;
  }
  tuple.values.resize(static_cast<size_t>(count));
  tuple.bytes.clear();
  for (Value& value : tuple.values) {
    const uint8_t kind = r.U8();
    switch (kind) {
      case 'n':
      case 'u':
        value = Value{static_cast<ValueKind>(kind), 0, 0};
        break;
      case 't':
      case 'b': {
        const int32_t length = r.I32();
        if (length < 0) return false;
        const std::string_view data = r.Bytes(static_cast<size_t>(length));
        if (!r.ok()) return false;
        value = Value{static_cast<ValueKind>(kind), static_cast<uint32_t>(tuple.bytes.size()),
                      static_cast<uint32_t>(length)};
        tuple.bytes.append(data);
        break;
      }
      default:
        return false;
    }
  }
  return r.ok();
}

std::optional<uint32_t> StreamXid(ByteReader& r, bool in_stream) {
  if (!in_stream) return std::nullopt;
  return r.U32();
}

Result<Decoded> DecodeRelation(ByteReader& r, bool in_stream) {
  Relation rel;
  rel.xid = StreamXid(r, in_stream);
  rel.relation_id = r.U32();
  rel.schema = r.CString();
  rel.name = r.CString();
  rel.replica_identity = static_cast<char>(r.U8());
  const int16_t count = r.I16();
  if (!r.ok()) return Malformed('R', "truncated header");
  if (count < 0 || count > kMaxColumns || static_cast<size_t>(count) * 10 > r.remaining()) {
    return Malformed('R', fmt::format("column count {} does not fit the message", count));
  }
  if (rel.replica_identity != 'd' && rel.replica_identity != 'n' && rel.replica_identity != 'f' &&
      rel.replica_identity != 'i') {
    return Malformed('R', fmt::format("unknown replica identity {}", int(rel.replica_identity)));
  }
  rel.columns.resize(static_cast<size_t>(count));
  for (Column& column : rel.columns) {
    column.flags = r.U8();
    column.name = r.CString();
    column.type_oid = r.U32();
    column.type_modifier = r.I32();
  }
  if (!r.AtEnd()) return Malformed('R', "truncated or trailing bytes in the column list");
  return rel;
}

Result<Decoded> DecodeChange(char type, ByteReader& r, bool in_stream) {
  const std::optional<uint32_t> xid = StreamXid(r, in_stream);
  const uint32_t relation_id = r.U32();
  if (!r.ok()) return Malformed(type, "truncated header");
  if (type == 'I') {
    Insert insert{xid, relation_id, {}};
    if (r.U8() != 'N' || !ReadTuple(r, insert.new_tuple)) return Malformed(type, "bad new tuple");
    if (!r.AtEnd()) return Malformed(type, "trailing bytes");
    return insert;
  }
  if (type == 'U') {
    Update update{xid, relation_id, 0, {}, {}};
    uint8_t marker = r.U8();
    if (marker == 'K' || marker == 'O') {
      update.old_kind = static_cast<char>(marker);
      if (!ReadTuple(r, update.old_tuple)) return Malformed(type, "bad old tuple");
      marker = r.U8();
    }
    if (marker != 'N' || !ReadTuple(r, update.new_tuple)) return Malformed(type, "bad new tuple");
    if (!r.AtEnd()) return Malformed(type, "trailing bytes");
    return update;
  }
  Delete del{xid, relation_id, 0, {}};
  const uint8_t marker = r.U8();
  if (marker != 'K' && marker != 'O') return Malformed(type, "expected 'K' or 'O' old tuple");
  del.old_kind = static_cast<char>(marker);
  if (!ReadTuple(r, del.old_tuple)) return Malformed(type, "bad old tuple");
  if (!r.AtEnd()) return Malformed(type, "trailing bytes");
  return del;
}

Result<Decoded> DecodeTruncate(ByteReader& r, bool in_stream) {
  Truncate truncate;
  truncate.xid = StreamXid(r, in_stream);
  const int32_t count = r.I32();
  truncate.options = r.U8();
  if (!r.ok() || count < 0 || static_cast<size_t>(count) * 4 != r.remaining()) {
    return Malformed('T', "relation count does not match the message length");
  }
  truncate.relation_ids.resize(static_cast<size_t>(count));
  for (uint32_t& id : truncate.relation_ids) id = r.U32();
  return truncate;
}

Result<Decoded> DecodeMessage(ByteReader& r, bool in_stream) {
  Message message;
  message.xid = StreamXid(r, in_stream);
  message.transactional = r.U8() & 1;
  message.lsn = Lsn{r.U64()};
  message.prefix = r.CString();
  const int32_t length = r.I32();
  if (!r.ok() || length < 0) return Malformed('M', "truncated header");
  message.content = r.Bytes(static_cast<size_t>(length));
  if (!r.AtEnd()) return Malformed('M', "content length does not match the message");
  return message;
}

template <class T>
Result<Decoded> Finish(char type, ByteReader& r, T value) {
  if (!r.AtEnd()) return Malformed(type, r.ok() ? "trailing bytes" : "truncated");
  return Decoded(std::move(value));
}

Result<Decoded> DecodeTwoPhase(char type, ByteReader& r) {
  switch (type) {
    case 'b': {
      BeginPrepare m{Lsn{r.U64()}, Lsn{r.U64()}, r.I64(), r.U32(), {}};
      m.gid = r.CString();
      return Finish(type, r, std::move(m));
    }
    case 'P':
    case 'p': {
      Prepare m;
      m.flags = r.U8();
      m.prepare_lsn = Lsn{r.U64()};
      m.end_lsn = Lsn{r.U64()};
      m.prepare_time = r.I64();
      m.xid = r.U32();
      m.gid = r.CString();
      m.streamed = type == 'p';
      return Finish(type, r, std::move(m));
    }
    case 'K': {
      CommitPrepared m;
      m.flags = r.U8();
      m.commit_lsn = Lsn{r.U64()};
      m.end_lsn = Lsn{r.U64()};
      m.commit_time = r.I64();
      m.xid = r.U32();
      m.gid = r.CString();
      return Finish(type, r, std::move(m));
    }
    default: {  // 'r'
      RollbackPrepared m;
      m.flags = r.U8();
      m.prepare_end_lsn = Lsn{r.U64()};
      m.rollback_end_lsn = Lsn{r.U64()};
      m.prepare_time = r.I64();
      m.rollback_time = r.I64();
      m.xid = r.U32();
      m.gid = r.CString();
      return Finish(type, r, std::move(m));
    }
  }
}

}  // namespace

Result<Decoded> Decode(std::span<const uint8_t> data, bool in_stream) {
  if (data.empty()) return Fail(ErrorKind::kProtocol, "malformed pgoutput message: empty");
  ByteReader r(data.subspan(1));
  const char type = static_cast<char>(data[0]);
  switch (type) {
    case 'B': {
      Begin m{Lsn{r.U64()}, r.I64(), r.U32()};
      return Finish(type, r, m);
    }
    case 'C': {
      Commit m{r.U8(), Lsn{r.U64()}, Lsn{r.U64()}, r.I64()};
      return Finish(type, r, m);
    }
    case 'O': {
      Origin m{Lsn{r.U64()}, {}};
      m.name = r.CString();
      return Finish(type, r, std::move(m));
    }
    case 'R':
      return DecodeRelation(r, in_stream);
    case 'Y': {
      Type m{StreamXid(r, in_stream), r.U32(), {}, {}};
      m.schema = r.CString();
      m.name = r.CString();
      return Finish(type, r, std::move(m));
    }
    case 'I':
    case 'U':
    case 'D':
      return DecodeChange(type, r, in_stream);
    case 'T':
      return DecodeTruncate(r, in_stream);
    case 'M':
      return DecodeMessage(r, in_stream);
    case 'S': {
      StreamStart m{r.U32(), false};
      m.first_segment = r.U8() == 1;
      return Finish(type, r, m);
    }
    case 'E':
      return Finish(type, r, StreamStop{});
    case 'c': {
      StreamCommit m{r.U32(), r.U8(), Lsn{r.U64()}, Lsn{r.U64()}, r.I64()};
      return Finish(type, r, m);
    }
    case 'A': {
      StreamAbort m{r.U32(), r.U32(), std::nullopt, std::nullopt};
      if (r.remaining() == 16) {
        m.abort_lsn = Lsn{r.U64()};
        m.abort_time = r.I64();
      }
      return Finish(type, r, m);
    }
    case 'b':
    case 'P':
    case 'p':
    case 'K':
    case 'r':
      return DecodeTwoPhase(type, r);
    default:
      return Malformed(type, "unknown message type");
  }
}

}  // namespace walden::pg::pgoutput
