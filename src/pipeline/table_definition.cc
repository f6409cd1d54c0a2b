#include "pipeline/table_definition.h"

#include "pg/types.h"

namespace walden::pipeline {

// attmissingval is an array with the one value: "{7}", "{\"a b\"}".
std::optional<Datum> ParseMissingValue(const ColumnType& type, const std::string& text) {
  if (type.kind == TypeKind::kList) return std::nullopt;  // an array of arrays: not parsed
  ColumnType array{.kind = TypeKind::kList, .element = std::make_shared<ColumnType>(type)};
  auto parsed = pg::ParseText(array, text);
  if (!parsed) return std::nullopt;
  const auto* list = std::get_if<List>(&*parsed);
  if (!list || list->items.size() != 1) return std::nullopt;
  return list->items[0];
}

mirror::TableDef TableDefOf(const pg::RelationInfo& relation) {
  mirror::TableDef def{
      .relation_id = relation.id, .name = relation.name, .identity = relation.replica_identity};
  for (size_t i = 0; i < relation.columns.size(); ++i) {
    const pg::pgoutput::Column& column = relation.columns[i];
    mirror::ColumnDef out{.name = column.name,
                          .type = relation.types[i],
                          .typmod = column.type_modifier,
                          .key = column.is_key()};
    if (i < relation.catalog.size()) {
      const pg::ColumnCatalog& facts = relation.catalog[i];
      out.attnum = facts.attnum;
      out.has_default = facts.has_default;
      if (facts.missing) {
        out.missing_text = facts.missing;
        out.missing = ParseMissingValue(out.type, *facts.missing);
      }
    }
    def.columns.push_back(std::move(out));
  }
  return def;
}

}  // namespace walden::pipeline
