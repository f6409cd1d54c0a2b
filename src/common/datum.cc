#include "common/datum.h"

#include <fmt/core.h>

namespace walden {

std::string ColumnType::DuckDbName() const {
  switch (kind) {
    case TypeKind::kBool:
      return "BOOLEAN";
    case TypeKind::kInt16:
      return "SMALLINT";
    case TypeKind::kInt32:
      return "INTEGER";
    case TypeKind::kInt64:
      return "BIGINT";
    case TypeKind::kFloat32:
      return "FLOAT";
    case TypeKind::kFloat64:
      return "DOUBLE";
    case TypeKind::kDecimal:
      return fmt::format("DECIMAL({},{})", precision, scale);
    case TypeKind::kText:
      return "VARCHAR";
    case TypeKind::kBlob:
      return "BLOB";
    case TypeKind::kDate:
      return "DATE";
    case TypeKind::kTime:
      return "TIME";
    case TypeKind::kTimeTz:
      return "TIMETZ";
    case TypeKind::kTimestamp:
      return "TIMESTAMP";
    case TypeKind::kTimestampTz:
      return "TIMESTAMPTZ";
    case TypeKind::kInterval:
      return "INTERVAL";
    case TypeKind::kUuid:
      return "UUID";
    case TypeKind::kJson:
      return "JSON";
    case TypeKind::kList:
      return element->DuckDbName() + "[]";
  }
  return "VARCHAR";
}

bool operator==(const ColumnType& a, const ColumnType& b) {
  if (a.kind != b.kind || a.precision != b.precision || a.scale != b.scale) return false;
  if (!a.element || !b.element) return a.element == b.element;
  return *a.element == *b.element;
}

bool operator==(const List& a, const List& b) { return a.items == b.items; }

size_t ApproxBytes(const Datum& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return sizeof(Datum) + text->size();
  if (const auto* blob = std::get_if<Blob>(&value)) return sizeof(Datum) + blob->bytes.size();
  if (const auto* list = std::get_if<List>(&value)) {
    size_t bytes = sizeof(Datum);
    for (const Datum& item : list->items) bytes += ApproxBytes(item);
    return bytes;
  }
  return sizeof(Datum);
}

}  // namespace walden
