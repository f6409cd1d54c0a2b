// The pgoutput logical replication protocol, versions 1 to 4 (design §10): a pure,
// bounds-checked decoder from the bytes of one message to a typed value.
//
// Contract: Decode never reads outside `data`, never throws and never aborts; malformed or
// truncated input gives a kProtocol error naming the message type and what was wrong.
// Inside a streamed transaction (between Stream Start and Stream Stop, protocol 2+) change
// messages carry an xid first; the caller says whether it is inside one.
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/lsn.h"

namespace walden::pg::pgoutput {

enum class ValueKind : uint8_t { kNull = 'n', kUnchangedToast = 'u', kText = 't', kBinary = 'b' };

struct Value {
  ValueKind kind = ValueKind::kNull;
  uint32_t offset = 0;  // into Tuple::bytes
  uint32_t length = 0;
};

// One row image. All values share one buffer: one allocation for the bytes, one for the
// value table, however many columns.
struct Tuple {
  std::vector<Value> values;
  std::string bytes;

  size_t size() const { return values.size(); }
  std::string_view Data(size_t i) const {
    return std::string_view(bytes).substr(values[i].offset, values[i].length);
  }
  friend bool operator==(const Tuple&, const Tuple&) = default;
};

struct Begin {
  Lsn final_lsn;
  int64_t commit_time = 0;  // µs since 2000-01-01
  uint32_t xid = 0;
};
struct Commit {
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  int64_t commit_time = 0;
};
struct Origin {
  Lsn commit_lsn;
  std::string name;
};
struct Column {
  uint8_t flags = 0;  // 1: part of the key
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool is_key() const { return flags & 1; }
  friend bool operator==(const Column&, const Column&) = default;
};
struct Relation {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  std::string schema;  // empty for pg_catalog
  std::string name;
  char replica_identity = 'd';  // d default, n nothing, f full, i index
  std::vector<Column> columns;
};
struct Type {
  std::optional<uint32_t> xid;
  uint32_t type_oid = 0;
  std::string schema;
  std::string name;
};
struct Insert {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  Tuple new_tuple;
};
struct Update {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  char old_kind = 0;  // 0 none, 'K' old key, 'O' old row (REPLICA IDENTITY FULL)
  Tuple old_tuple;
  Tuple new_tuple;
};
struct Delete {
  std::optional<uint32_t> xid;
  uint32_t relation_id = 0;
  char old_kind = 'K';
  Tuple old_tuple;
};
struct Truncate {
  std::optional<uint32_t> xid;
  uint8_t options = 0;  // 1 cascade, 2 restart identity
  std::vector<uint32_t> relation_ids;
};
struct Message {
  std::optional<uint32_t> xid;
  bool transactional = false;
  Lsn lsn;
  std::string prefix;
  std::string content;
};
struct StreamStart {
  uint32_t xid = 0;
  bool first_segment = false;
};
struct StreamStop {};
struct StreamCommit {
  uint32_t xid = 0;
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  int64_t commit_time = 0;
};
struct StreamAbort {
  uint32_t xid = 0;
  uint32_t subxid = 0;
  std::optional<Lsn> abort_lsn;  // protocol 4 with parallel streaming
  std::optional<int64_t> abort_time;
};
struct BeginPrepare {
  Lsn prepare_lsn;
  Lsn end_lsn;
  int64_t prepare_time = 0;
  uint32_t xid = 0;
  std::string gid;
};
struct Prepare {  // also Stream Prepare ('p'), same layout
  uint8_t flags = 0;
  Lsn prepare_lsn;
  Lsn end_lsn;
  int64_t prepare_time = 0;
  uint32_t xid = 0;
  std::string gid;
  bool streamed = false;
};
struct CommitPrepared {
  uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  int64_t commit_time = 0;
  uint32_t xid = 0;
  std::string gid;
};
struct RollbackPrepared {
  uint8_t flags = 0;
  Lsn prepare_end_lsn;
  Lsn rollback_end_lsn;
  int64_t prepare_time = 0;
  int64_t rollback_time = 0;
  uint32_t xid = 0;
  std::string gid;
};

using Decoded = std::variant<Begin, Commit, Origin, Relation, Type, Insert, Update, Delete,
                             Truncate, Message, StreamStart, StreamStop, StreamCommit, StreamAbort,
                             BeginPrepare, Prepare, CommitPrepared, RollbackPrepared>;

// Decodes one pgoutput message (the payload of one XLogData).
Result<Decoded> Decode(std::span<const uint8_t> data, bool in_stream);
inline Result<Decoded> Decode(std::string_view data, bool in_stream) {
  return Decode(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()), in_stream);
}

}  // namespace walden::pg::pgoutput
