// Where captured changes become the neutral change model (change/change.h): each row image
// is parsed from pgoutput's text or binary forms exactly once, here, and every sink reads
// the typed result. Also the table definitions (change::TableDef) of relation versions.
//
// `Deliver` is the run loop's one path from a committed transaction to the sinks: it walks
// the transaction once (a spilled one is replayed from disk once), types each change and
// hands it to every sink that has not made the transaction durable before.
// Thread-safety: a ChangeTyper belongs to one thread (the loop's); the definitions it
// hands out are immutable and may be shared.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "change/change.h"
#include "common/datum.h"
#include "common/error.h"
#include "pg/assembler.h"
#include "pg/relation_cache.h"

namespace walden::pipeline {

class Sink;

change::TableDef TableDefOf(const pg::RelationInfo& relation);
// The value of pg_attribute.attmissingval's text ("{7}") for a column of `type`; nullopt
// when it does not parse (the mirror then treats the default as unknown).
std::optional<Datum> ParseMissingValue(const ColumnType& type, const std::string& text);

change::TransactionInfo InfoOf(const pg::TransactionInfo& info);

class ChangeTyper {
 public:
  // The definition of this relation version: one shared value per version, so sinks may
  // compare pointers to tell a new version.
  std::shared_ptr<const change::TableDef> TableOf(
      const std::shared_ptr<const pg::RelationInfo>& relation);

  // The change at position `seq` of its transaction, typed. Fails (kProtocol) on a value
  // that does not parse as its column's type.
  Result<change::Change> Type(const pg::Change& change, int64_t seq);

 private:
  struct Known {
    std::shared_ptr<const pg::RelationInfo> relation;
    std::shared_ptr<const change::TableDef> table;
  };
  static constexpr size_t kMaxVersions = 1024;
  std::map<const pg::RelationInfo*, Known> tables_;
};

// Applies `txn` to every sink in `sinks`, in order, change by change (see above).
Status Deliver(ChangeTyper& typer, const pg::CommittedTransaction& txn,
               std::span<Sink* const> sinks);

}  // namespace walden::pipeline
