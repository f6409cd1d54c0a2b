// Turns the decoded pgoutput stream into whole committed transactions, in commit order,
// each with its commit LSN, end LSN, commit time, xid and ordered changes (design §2).
//
// Streamed (in-progress) transactions are buffered until Stream Commit and dropped on
// Stream Abort, including aborted subtransactions. A Relation or Type message inside a
// stream describes the relation as that transaction sees it (after its own, uncommitted
// DDL): it applies to that stream only until its Stream Commit, never to transactions
// decoded meanwhile (PostgreSQL tracks what it sent per streamed transaction and does not
// send the definition again to the others). Buffers beyond `memory_limit` spill to
// files under `spill_dir`, so a transaction of any size needs bounded memory; a committed
// transaction is replayed from its spill file and memory in order, never materialized.
// Thread-safety: not thread-safe; owned by the capture thread. A CommittedTransaction may
// be handed to another thread once returned.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/lsn.h"
#include "pg/pgoutput.h"
#include "pg/relation_cache.h"

namespace walden::pg {

struct Change {
  // kRead: a row a snapshot read (new_tuple), applied like an insert of the current row.
  // walden's own kinds, never in a captured stream (snapshots add them):
  // kReset: walden's copy of `relation` starts over here, empty, with this definition (a
  // whole-table read follows in the same transaction).
  // kRefillStart: a new copy starts empty beside the old one, which stays queryable; the
  // following changes and reads of `relation` fill the new copy.
  // kRefillDone: the new copy is complete and replaces the old one.
  enum class Kind : uint8_t {
    kInsert,
    kUpdate,
    kDelete,
    kTruncate,
    kMessage,
    kSchemaChange,
    kRead,
    kReset,
    kRefillStart,
    kRefillDone
  };
  Kind kind = Kind::kInsert;
  uint32_t xid = 0;  // the subtransaction's xid inside streamed transactions
  std::shared_ptr<const RelationInfo> relation;  // insert, update, delete, schema change
  char old_kind = 0;                             // 'K' old key, 'O' old row, 0 none
  pgoutput::Tuple old_tuple;
  pgoutput::Tuple new_tuple;
  std::vector<std::shared_ptr<const RelationInfo>> truncated;
  uint8_t truncate_options = 0;
  std::string prefix;   // logical message
  std::string content;  // logical message
  SchemaChange schema_change;
};

struct TransactionInfo {
  uint32_t xid = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  int64_t commit_time = 0;  // µs since 2000-01-01
  bool streamed = false;
};

class TransactionBuffer;

class CommittedTransaction {
 public:
  CommittedTransaction(TransactionInfo info, std::unique_ptr<TransactionBuffer> buffer);
  // A transaction walden makes up (the rows of an initial-load chunk).
  CommittedTransaction(TransactionInfo info, std::vector<Change> changes);
  CommittedTransaction(CommittedTransaction&&) noexcept;
  CommittedTransaction& operator=(CommittedTransaction&&) noexcept;
  ~CommittedTransaction();

  const TransactionInfo& info() const { return info_; }
  size_t change_count() const;
  // Calls `visit` for each change in order: prepended, the source's, appended; stops at the
  // first error.
  Status ForEach(const std::function<Status(const Change&)>& visit) const;
  // Adds changes after the source's: the snapshot rows emitted at a high watermark belong
  // to the watermark's transaction, so each sink applies them exactly once with it.
  void Append(std::vector<Change> changes);
  // Adds changes before the source's (a snapshot read that belongs just before them).
  void Prepend(std::vector<Change> changes);

 private:
  TransactionInfo info_;
  std::unique_ptr<TransactionBuffer> buffer_;
  std::vector<Change> prepended_;
  std::vector<Change> appended_;
};

struct AssemblerOptions {
  size_t memory_limit = 64u << 20;
  std::string spill_dir;           // created on first spill
  TypeLookup type_lookup;          // resolves user-defined types; nullptr: they map to text
  RelationLookup relation_lookup;  // pg_attribute facts for sinks; nullptr: none
};

class Assembler {
 public:
  explicit Assembler(AssemblerOptions options);
  ~Assembler();

  // Feeds one decoded message; returns the transaction it completed, if any.
  Result<std::optional<CommittedTransaction>> Add(pgoutput::Decoded message);

  // Forgets transactions still open (after a lost connection the server sends them again);
  // keeps the relation cache.
  void DiscardOpenTransactions();

  bool in_stream() const { return in_stream_; }
  // No transaction is open: everything received so far has been handed out.
  bool idle() const { return !current_ && streams_.empty(); }
  size_t buffered_bytes() const { return buffered_bytes_; }
  size_t spilled_bytes() const { return spilled_bytes_; }
  const RelationCache& relations() const { return relations_; }

 private:
  Result<TransactionBuffer*> Target(std::optional<uint32_t> xid);
  Status Append(std::optional<uint32_t> xid, Change change);
  Status SpillIfNeeded();
  Result<std::optional<CommittedTransaction>> OnRelation(const pgoutput::Relation& message);
  // The definitions the current message sees: the open stream's own, once it has any.
  RelationCache& Relations(bool for_update);
  void EndStream(uint32_t xid, bool committed);

  AssemblerOptions options_;
  RelationCache relations_;
  std::unique_ptr<TransactionBuffer> current_;
  TransactionInfo current_info_;
  std::map<uint32_t, std::unique_ptr<TransactionBuffer>> streams_;
  struct StreamRelations {
    RelationCache cache;           // a copy of relations_ with the stream's definitions
    std::set<uint32_t> redefined;  // relations the stream sent a definition of
  };
  std::map<uint32_t, StreamRelations> stream_relations_;  // by streamed transaction's xid
  bool in_stream_ = false;
  uint32_t stream_xid_ = 0;
  size_t buffered_bytes_ = 0;
  size_t spilled_bytes_ = 0;
  uint64_t spill_sequence_ = 0;
};

}  // namespace walden::pg
