// What walden knows about each published table, keyed by relation id, kept current by
// pgoutput's Relation and Type messages.
//
// A Relation message is either a re-send (pgoutput repeats definitions, e.g. after a
// reconnect) or a schema change; `Update` tells which and how the columns changed.
// Every version is immutable and shared: a change carries the exact definition it was
// encoded with, even after later DDL. Thread-safety: not thread-safe; the capture thread
// owns it. The RelationInfo values it hands out are immutable and may be shared freely.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/identifiers.h"
#include "pg/pgoutput.h"
#include "pg/types.h"

namespace walden::pg {

// What pg_attribute says about a column, looked up when its Relation message arrives:
// enough for a sink to tell a rename from a drop + add, and to back-fill an added column.
struct ColumnCatalog {
  int attnum = 0;                      // 0: not found (renamed or dropped since)
  std::optional<std::string> missing;  // attmissingval's text ("{7}") when atthasmissing
  bool has_default = false;            // atthasdef
};
// One row of pg_attribute (attnum > 0), dropped ones included: they keep their attnum.
struct CatalogAttribute {
  int attnum = 0;
  std::string name;
  bool dropped = false;
  ColumnCatalog facts;
};
// All attributes of a relation in attnum order, as the catalog says now; an error when the
// catalog could not be asked.
using RelationLookup = std::function<Result<std::vector<CatalogAttribute>>(uint32_t relation_id)>;

// Which attribute each column of a Relation message is. The message may be older than the
// catalog (walden lags behind DDL). When the catalog has exactly as many attributes
// (dropped ones included) as the message has columns, position decides. Otherwise names
// that still exist match, in order, and the columns between two matches take the
// attributes between them when the counts agree (a rename, or a drop since the message);
// anything else stays unknown (attnum 0) rather than guessed. Known hole: names swapped by
// renames while walden lagged AND columns were added or dropped around them.
std::vector<ColumnCatalog> MatchAttributes(const std::vector<pgoutput::Column>& columns,
                                           const std::vector<CatalogAttribute>& attributes);

struct RelationInfo {
  uint32_t id = 0;
  QualifiedName name;
  char replica_identity = 'd';
  std::vector<pgoutput::Column> columns;
  std::vector<ColumnType> types;       // walden's type of each column (design §7)
  std::vector<ColumnCatalog> catalog;  // per column; empty without a RelationLookup
  int version = 1;                     // bumped by every schema change walden sees
};

// One row image typed: nullopt where PostgreSQL sent an unchanged TOAST marker.
Result<std::vector<std::optional<Datum>>> ParseTuple(const RelationInfo& relation,
                                                     const pgoutput::Tuple& tuple);

struct SchemaChange {
  std::vector<std::string> added;
  std::vector<std::string> dropped;
  std::vector<std::string> retyped;  // same name, other type or modifier
  bool key_changed = false;          // key columns or replica identity differ
  bool renamed = false;              // schema or table name differs
  bool empty() const {
    return added.empty() && dropped.empty() && retyped.empty() && !key_changed && !renamed;
  }
};

class RelationCache {
 public:
  // `lookup` resolves user-defined types (enums, domains, their arrays) via the catalog.
  // `relation_lookup` adds pg_attribute facts to every new definition.
  explicit RelationCache(TypeLookup lookup = nullptr, RelationLookup relation_lookup = nullptr)
      : lookup_(std::move(lookup)), relation_lookup_(std::move(relation_lookup)) {}

  struct UpdateResult {
    std::shared_ptr<const RelationInfo> relation;
    std::optional<SchemaChange> change;  // nullopt: first sight or identical re-send
  };
  // Fails, keeping nothing of the message, when a catalog look-up fails (the caller reads
  // the message again later, e.g. after reconnecting).
  Result<UpdateResult> Update(const pgoutput::Relation& message);
  void UpdateType(const pgoutput::Type& message);

  std::shared_ptr<const RelationInfo> Find(uint32_t relation_id) const;
  // Takes another cache's definition of that relation (and the type names it knows).
  void Adopt(const RelationCache& other, uint32_t relation_id);
  // "schema.name" of a user-defined type seen in a Type message; empty if unknown.
  std::string TypeName(uint32_t type_oid) const;

 private:
  Status AddCatalog(RelationInfo& info) const;

  std::map<uint32_t, std::shared_ptr<const RelationInfo>> relations_;
  std::map<uint32_t, std::string> types_;
  TypeLookup lookup_;
  RelationLookup relation_lookup_;
};

SchemaChange Diff(const RelationInfo& before, const RelationInfo& after);

}  // namespace walden::pg
