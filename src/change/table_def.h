// One captured table at one schema version, as every part of walden sees it: its name,
// columns with mapped types (design §7), key columns and replica identity, and the catalog
// facts schema evolution needs (attribute numbers to tell a rename from a drop + add, the
// stored fast default of an added column).
//
// The pipeline builds it from pgoutput's Relation messages (plus a catalog look-up); the
// mirror creates and alters its tables from it, the archive records it under
// `_walden/schemas/`, so a rebuild from the archive applies exactly the schema steps
// streaming applied. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/datum.h"
#include "common/error.h"
#include "common/identifiers.h"

namespace walden::change {

struct ColumnDef {
  std::string name;
  ColumnType type;
  int32_t typmod = -1;  // PostgreSQL's type modifier (length, precision and scale)
  bool key = false;     // part of the primary key / replica identity index
  int attnum = 0;       // pg_attribute.attnum; 0: unknown
  // What PostgreSQL shows for rows that existed before the column was added
  // (pg_attribute.attmissingval); nullopt: none stored.
  std::optional<Datum> missing;
  std::optional<std::string> missing_text;  // the same in PostgreSQL's text form
  bool has_default = false;                 // pg_attribute.atthasdef at look-up time
};

// How changes are matched to mirror rows (design §4).
enum class MatchMode : uint8_t {
  kKey,         // primary key or replica identity index: set-based merge
  kFullRow,     // REPLICA IDENTITY FULL: the whole old row, one row at a time
  kAppendOnly,  // no key and no identity: PostgreSQL allows only inserts
};

struct TableDef {
  uint32_t relation_id = 0;
  QualifiedName name;
  char identity = 'd';  // pg_class.relreplident: d default, i index, f full, n nothing
  std::vector<ColumnDef> columns;
  // A new copy fills beside the old one (a refilling snapshot): changes go to
  // walden.building_<relation_id> until it replaces `name`. Not part of the JSON: the
  // registry's state says it (kStateRefilling).
  bool building = false;
  // walden's count of this table's schema versions in this run (not part of the JSON):
  // changes of different versions never share a spool table.
  int version = 1;
  // A topic's table (design §12): the key columns are the message key, and a consumer of
  // current state (the mirror) keeps the latest message per key and none without a key.
  bool compacted = false;

  MatchMode mode() const;
  // Where the rows this definition describes are written: `name`, or the building copy.
  QualifiedName Physical() const;
  std::vector<size_t> KeyIndexes() const;
  // Same columns, types, keys and name (catalog facts aside): nothing to alter.
  bool SameShape(const TableDef& other) const;
};

std::string ModeName(MatchMode mode);

// JSON for the registry and the archive's schema records. `missing` is stored as its
// PostgreSQL text; the reader re-parses it (the pipeline knows how).
std::string TableDefToJson(const TableDef& def);
Result<TableDef> TableDefFromJson(std::string_view json);

std::string ColumnTypeToJson(const ColumnType& type);

}  // namespace walden::change
