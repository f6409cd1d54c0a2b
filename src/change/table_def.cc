#include "change/table_def.h"

#include <nlohmann/json.hpp>

namespace walden::change {
namespace {

using nlohmann::json;

json TypeJson(const ColumnType& type) {
  json out{{"kind", static_cast<int>(type.kind)}, {"pg_oid", type.pg_oid}};
  if (type.kind == TypeKind::kDecimal) {
    out["precision"] = type.precision;
    out["scale"] = type.scale;
  }
  if (type.is_enum) out["enum"] = true;
  if (type.element) out["element"] = TypeJson(*type.element);
  out["name"] = type.DuckDbName();  // for people reading the registry
  return out;
}

ColumnType TypeFromJson(const json& in) {
  ColumnType type;
  const int kind = in.at("kind").get<int>();
  if (kind < 0 || kind > static_cast<int>(TypeKind::kList)) {
    throw std::out_of_range("unknown type kind " + std::to_string(kind));
  }
  type.kind = static_cast<TypeKind>(kind);
  type.pg_oid = in.value("pg_oid", 0u);
  type.precision = in.value("precision", 0);
  type.scale = in.value("scale", 0);
  type.is_enum = in.value("enum", false);
  if (in.contains("element")) {
    type.element = std::make_shared<ColumnType>(TypeFromJson(in.at("element")));
  }
  if (type.kind == TypeKind::kList && !type.element) {
    throw std::out_of_range("list type without element");
  }
  return type;
}

}  // namespace

MatchMode TableDef::mode() const {
  if (identity == 'f') return MatchMode::kFullRow;
  return KeyIndexes().empty() ? MatchMode::kAppendOnly : MatchMode::kKey;
}

std::vector<size_t> TableDef::KeyIndexes() const {
  std::vector<size_t> keys;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].key) keys.push_back(i);
  }
  return keys;
}

bool TableDef::SameShape(const TableDef& other) const {
  if (name != other.name || identity != other.identity || compacted != other.compacted ||
      columns.size() != other.columns.size()) {
    return false;
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    const ColumnDef& a = columns[i];
    const ColumnDef& b = other.columns[i];
    if (a.name != b.name || !(a.type == b.type) || a.type.pg_oid != b.type.pg_oid ||
        a.typmod != b.typmod || a.key != b.key) {
      return false;
    }
  }
  return true;
}

QualifiedName TableDef::Physical() const {
  if (!building) return name;
  return {"walden", "building_" + std::to_string(relation_id)};
}

std::string ModeName(MatchMode mode) {
  switch (mode) {
    case MatchMode::kKey:
      return "key";
    case MatchMode::kFullRow:
      return "full-row";
    case MatchMode::kAppendOnly:
      return "append-only";
  }
  return "?";
}

std::string ColumnTypeToJson(const ColumnType& type) { return TypeJson(type).dump(); }

std::string TableDefToJson(const TableDef& def) {
  json columns = json::array();
  for (const ColumnDef& c : def.columns) {
    json column{{"name", c.name},     {"type", TypeJson(c.type)}, {"key", c.key},
                {"typmod", c.typmod}, {"attnum", c.attnum},       {"has_default", c.has_default}};
    if (c.missing_text) column["missing"] = *c.missing_text;
    columns.push_back(std::move(column));
  }
  json out{{"relation_id", def.relation_id},
           {"schema", def.name.schema},
           {"table", def.name.name},
           {"identity", std::string(1, def.identity)},
           {"columns", std::move(columns)}};
  if (def.compacted) out["compacted"] = true;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<TableDef> TableDefFromJson(std::string_view text) {
  try {
    const json in = json::parse(text);
    TableDef def{.relation_id = in.at("relation_id").get<uint32_t>(),
                 .name = {in.at("schema").get<std::string>(), in.at("table").get<std::string>()}};
    const std::string identity = in.value("identity", std::string("d"));
    def.identity = identity.empty() ? 'd' : identity[0];
    def.compacted = in.value("compacted", false);
    for (const json& c : in.at("columns")) {
      ColumnDef column{.name = c.at("name").get<std::string>(),
                       .type = TypeFromJson(c.at("type")),
                       .typmod = c.value("typmod", -1),
                       .key = c.value("key", false),
                       .attnum = c.value("attnum", 0),
                       .has_default = c.value("has_default", false)};
      if (c.contains("missing")) column.missing_text = c.at("missing").get<std::string>();
      def.columns.push_back(std::move(column));
    }
    return def;
  } catch (const std::exception& e) {
    return Fail(ErrorKind::kIo, std::string("table definition does not parse: ") + e.what());
  }
}

}  // namespace walden::change
