#include "pg/relation_cache.h"

#include <algorithm>

namespace walden::pg {

SchemaChange Diff(const RelationInfo& before, const RelationInfo& after) {
  SchemaChange change;
  auto find = [](const RelationInfo& rel, const std::string& name) {
    return std::find_if(rel.columns.begin(), rel.columns.end(),
                        [&](const pgoutput::Column& c) { return c.name == name; });
  };
  for (const pgoutput::Column& column : after.columns) {
    auto old = find(before, column.name);
    if (old == before.columns.end()) {
      change.added.push_back(column.name);
    } else if (old->type_oid != column.type_oid || old->type_modifier != column.type_modifier) {
      change.retyped.push_back(column.name);
    }
    if (old != before.columns.end() && old->is_key() != column.is_key()) change.key_changed = true;
  }
  for (const pgoutput::Column& column : before.columns) {
    if (find(after, column.name) == after.columns.end()) change.dropped.push_back(column.name);
  }
  change.key_changed |= before.replica_identity != after.replica_identity;
  change.renamed = before.name != after.name;
  return change;
}

Result<RelationCache::UpdateResult> RelationCache::Update(const pgoutput::Relation& message) {
  auto info = std::make_shared<RelationInfo>();
  info->id = message.relation_id;
  info->name = {message.schema.empty() ? "pg_catalog" : message.schema, message.name};
  info->replica_identity = message.replica_identity;
  info->columns = message.columns;
  for (const pgoutput::Column& column : message.columns) {
    auto type = MapType(column.type_oid, column.type_modifier, lookup_);
    if (!type) return std::unexpected(type.error());
    info->types.push_back(std::move(*type));
  }
  auto it = relations_.find(message.relation_id);
  if (it == relations_.end()) {
    if (auto added = AddCatalog(*info); !added) return std::unexpected(added.error());
    relations_[message.relation_id] = info;
    return UpdateResult{info, std::nullopt};
  }
  SchemaChange change = Diff(*it->second, *info);
  // Column order matters to the tuple layout even when names and types match.
  const bool same_layout = it->second->columns == info->columns;
  if (change.empty() && same_layout) return UpdateResult{it->second, std::nullopt};
  if (auto added = AddCatalog(*info); !added) return std::unexpected(added.error());
  info->version = it->second->version + 1;
  it->second = info;
  return UpdateResult{info, std::move(change)};
}

Result<std::vector<std::optional<Datum>>> ParseTuple(const RelationInfo& relation,
                                                     const pgoutput::Tuple& tuple) {
  if (tuple.size() != relation.columns.size()) {
    return Fail(ErrorKind::kProtocol, "row of " + relation.name.Display() + " has " +
                                          std::to_string(tuple.size()) + " values for " +
                                          std::to_string(relation.columns.size()) + " columns");
  }
  std::vector<std::optional<Datum>> row;
  row.reserve(tuple.size());
  for (size_t i = 0; i < tuple.size(); ++i) {
    switch (tuple.values[i].kind) {
      case pgoutput::ValueKind::kNull:
        row.emplace_back(Null{});
        break;
      case pgoutput::ValueKind::kUnchangedToast:
        row.emplace_back(std::nullopt);
        break;
      case pgoutput::ValueKind::kText:
      case pgoutput::ValueKind::kBinary: {
        auto datum = tuple.values[i].kind == pgoutput::ValueKind::kText
                         ? ParseText(relation.types[i], tuple.Data(i))
                         : ParseBinary(relation.types[i], tuple.Data(i));
        if (!datum) {
          return Wrap(datum.error(), "column " + DisplayIdent(relation.columns[i].name) + " of " +
                                         relation.name.Display());
        }
        row.emplace_back(std::move(*datum));
        break;
      }
    }
  }
  return row;
}

void RelationCache::UpdateType(const pgoutput::Type& message) {
  types_[message.type_oid] = message.schema + "." + message.name;
}

std::vector<ColumnCatalog> MatchAttributes(const std::vector<pgoutput::Column>& columns,
                                           const std::vector<CatalogAttribute>& attributes) {
  const size_t n = columns.size();
  std::vector<int> match(n, -1);  // index into attributes
  // Attribute numbers only grow and dropped attributes keep theirs: when the catalog has as
  // many attributes as the message has columns, none was dropped before the message and
  // none added after it, so position decides, whatever was renamed since.
  if (attributes.size() == n) {
    for (size_t i = 0; i < n; ++i) match[i] = static_cast<int>(i);
  }
  std::vector<bool> taken(attributes.size(), false);
  int last = -1;
  for (size_t i = 0; i < n && match[i] < 0; ++i) {
    for (size_t a = 0; a < attributes.size(); ++a) {
      if (attributes[a].dropped || attributes[a].name != columns[i].name) continue;
      if (static_cast<int>(a) > last) {  // attribute order must follow column order
        match[i] = static_cast<int>(a);
        taken[a] = true;
        last = static_cast<int>(a);
      }
      break;
    }
  }
  for (size_t i = 0; i < n;) {
    if (match[i] >= 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < n && match[end] < 0) ++end;
    const int low = i == 0 ? -1 : match[i - 1];
    const int high = end == n ? static_cast<int>(attributes.size()) : match[end];
    std::vector<int> free;
    for (int a = low + 1; a < high; ++a) {
      if (!taken[a]) free.push_back(a);
    }
    // At the end, attributes added since the message are indistinguishable: only exact fits.
    if (free.size() == end - i) {
      for (size_t k = 0; k < free.size(); ++k) match[i + k] = free[k];
    }
    i = end;
  }
  std::vector<ColumnCatalog> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (match[i] < 0) continue;
    out[i] = attributes[match[i]].facts;
    out[i].attnum = attributes[match[i]].attnum;
  }
  return out;
}

Status RelationCache::AddCatalog(RelationInfo& info) const {
  if (!relation_lookup_) return {};
  auto attributes = relation_lookup_(info.id);
  if (!attributes) return std::unexpected(attributes.error());
  info.catalog = MatchAttributes(info.columns, *attributes);
  return {};
}

std::shared_ptr<const RelationInfo> RelationCache::Find(uint32_t relation_id) const {
  auto it = relations_.find(relation_id);
  return it == relations_.end() ? nullptr : it->second;
}

void RelationCache::Adopt(const RelationCache& other, uint32_t relation_id) {
  if (auto found = other.Find(relation_id)) relations_[relation_id] = std::move(found);
  for (const auto& [oid, name] : other.types_) types_[oid] = name;
}

std::string RelationCache::TypeName(uint32_t type_oid) const {
  auto it = types_.find(type_oid);
  return it == types_.end() ? std::string() : it->second;
}

}  // namespace walden::pg
