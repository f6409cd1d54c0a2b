// The neutral change model (design §1, §11): what capture produces and every sink consumes.
// A committed source transaction is its `TransactionInfo` and a sequence of `Change`s whose
// row images are typed values, parsed once from the source's wire format before any sink
// sees them. Sinks know this header and `TableDef`, never PostgreSQL's wire format and
// never each other. The one-letter op codes exist only where a change is written out.
// Thread-safety: plain values; a Change may be handed to another thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "change/table_def.h"
#include "common/datum.h"
#include "common/lsn.h"

namespace walden::change {

enum class Op : uint8_t {
  kInsert,
  kUpdate,
  kDelete,
  kRead,          // a row a snapshot read: the current row, applied like an insert
  kTruncate,      // `truncated` names the tables
  kSchemaChange,  // `table` is the new definition
  kMessage,       // a logical decoding message (`prefix`, `content`): walden's heartbeats
  // walden's own, never in a captured stream (snapshots add them):
  kReset,        // walden's copy of `table` starts over here, empty (a full read follows)
  kRefillStart,  // a new copy starts empty beside the old one, which stays queryable
  kRefillDone,   // the new copy is complete and replaces the old one
};

// The codes archive rows and mirror stages carry (design §3): 'c' insert, 'u' update,
// 'd' delete, 'r' read, 't' truncate, 's' a copy starting over (reset, refill start);
// '?' for ops that are no row (schema changes, messages, refill done).
char OpCode(Op op);

// What the old image of an update or delete holds.
enum class OldImage : uint8_t {
  kNone,  // not sent: the update left the key alone
  kKey,   // the old key columns (others NULL)
  kRow,   // the whole old row (REPLICA IDENTITY FULL)
};

// One value per column of the change's table; nullopt: PostgreSQL did not send the value
// because an update left an out-of-line (TOAST) value unchanged.
using Row = std::vector<std::optional<Datum>>;

struct Change {
  Op op = Op::kInsert;
  int64_t seq = 0;  // position inside its transaction, from 0
  // The definition the change was encoded with (row changes, schema changes, resets).
  std::shared_ptr<const TableDef> table;
  // Insert, update, read: the new row. Delete: the old key or row.
  Row row;
  OldImage old_image = OldImage::kNone;
  // Update with an old image: the old key or row.
  Row before;
  // The old image as the source's own text forms, a JSON object keyed by column name
  // (how the archive records it, `_walden_before`); empty without an old image.
  std::string before_json;
  std::vector<std::shared_ptr<const TableDef>> truncated;  // truncate
  std::string prefix;                                      // message
  std::string content;                                     // message
};

struct TransactionInfo {
  uint32_t xid = 0;
  Lsn commit_lsn;  // identifies the transaction (design §2)
  Lsn end_lsn;
  int64_t commit_time = 0;  // µs since 1970-01-01 UTC
};

// The identity of a row by its table's key columns, as bytes that compare equal exactly
// when the key values are equal (type tag, length and bytes of each value); empty when
// the table has no key or a key value is missing or NULL (then it identifies nothing).
std::string KeyOf(const TableDef& table, const Row& row);

// walden's own schema: in the source the topics API's bookkeeping (design §12), in the
// mirror walden's registry. Source tables in it are never captured.
inline constexpr std::string_view kWaldenSchema = "walden";

// walden's metadata columns in archive rows (design §3), in their order there. Source
// columns starting with kReservedPrefix are refused.
inline constexpr std::string_view kReservedPrefix = "_walden_";
inline constexpr std::string_view kOpColumn = "_walden_op";
inline constexpr std::string_view kLsnColumn = "_walden_lsn";
inline constexpr std::string_view kSeqColumn = "_walden_seq";
inline constexpr std::string_view kXidColumn = "_walden_xid";
inline constexpr std::string_view kCommitTsColumn = "_walden_commit_ts";
inline constexpr std::string_view kBeforeColumn = "_walden_before";
inline constexpr std::string_view kUnchangedColumn = "_walden_unchanged";

}  // namespace walden::change
