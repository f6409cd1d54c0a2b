#include "pg/types.h"

namespace walden::pg {
namespace {

struct Builtin {
  uint32_t oid;
  uint32_t array_oid;
  TypeKind kind;
};

// OIDs are fixed in PostgreSQL's catalog (pg_type.dat) for every supported version.
constexpr Builtin kBuiltins[] = {
    {16, 1000, TypeKind::kBool},          {21, 1005, TypeKind::kInt16},
    {23, 1007, TypeKind::kInt32},         {20, 1016, TypeKind::kInt64},
    {700, 1021, TypeKind::kFloat32},      {701, 1022, TypeKind::kFloat64},
    {1700, 1231, TypeKind::kDecimal},     {25, 1009, TypeKind::kText},
    {1043, 1015, TypeKind::kText},        {1042, 1014, TypeKind::kText},
    {19, 1003, TypeKind::kText},          {17, 1001, TypeKind::kBlob},
    {1082, 1182, TypeKind::kDate},        {1083, 1183, TypeKind::kTime},
    {1266, 1270, TypeKind::kTimeTz},      {1114, 1115, TypeKind::kTimestamp},
    {1184, 1185, TypeKind::kTimestampTz}, {1186, 1187, TypeKind::kInterval},
    {2950, 2951, TypeKind::kUuid},        {114, 199, TypeKind::kJson},
    {3802, 3807, TypeKind::kJson},
};

ColumnType Scalar(TypeKind kind, int32_t typmod) {
  if (kind != TypeKind::kDecimal) return ColumnType{.kind = kind};
  // numeric's modifier is ((precision << 16) | (scale & 0x7ff)) + 4; PostgreSQL 15 allows
  // negative scales and scales above the precision, which DuckDB's DECIMAL cannot express.
  if (typmod < 4) return ColumnType{.kind = TypeKind::kText};
  const int precision = ((typmod - 4) >> 16) & 0xffff;
  int scale = (typmod - 4) & 0x7ff;
  if (scale & 0x400) scale -= 0x800;
  if (precision < 1 || precision > 38 || scale < 0 || scale > precision) {
    return ColumnType{.kind = TypeKind::kText};
  }
  return ColumnType{.kind = TypeKind::kDecimal, .precision = precision, .scale = scale};
}

ColumnType ListOf(ColumnType element) {
  return ColumnType{.kind = TypeKind::kList,
                    .element = std::make_shared<const ColumnType>(std::move(element))};
}

// nullopt: not a built-in type or an array of one.
std::optional<ColumnType> MapBuiltin(uint32_t oid, int32_t typmod) {
  for (const Builtin& b : kBuiltins) {
    if (b.oid == oid) {
      ColumnType type = Scalar(b.kind, typmod);
      type.pg_oid = oid;
      return type;
    }
    if (b.array_oid == oid) {
      ColumnType element = Scalar(b.kind, typmod);
      element.pg_oid = b.oid;
      ColumnType list = ListOf(std::move(element));
      list.pg_oid = oid;
      return list;
    }
  }
  return std::nullopt;
}

}  // namespace

ColumnType MapType(uint32_t oid, int32_t typmod) {
  return MapBuiltin(oid, typmod).value_or(ColumnType{.kind = TypeKind::kText, .pg_oid = oid});
}

Result<ColumnType> MapType(uint32_t oid, int32_t typmod, const TypeLookup& lookup) {
  if (auto builtin = MapBuiltin(oid, typmod)) return *builtin;
  const ColumnType text{.kind = TypeKind::kText, .pg_oid = oid};
  if (!lookup) return text;
  auto info = lookup(oid);
  if (!info) return std::unexpected(info.error());
  if (!*info) return text;
  if ((*info)->typtype == 'e')
    return ColumnType{.kind = TypeKind::kText, .pg_oid = oid, .is_enum = true};
  if ((*info)->typtype == 'd' && (*info)->base_type != 0 && (*info)->base_type != oid) {
    return MapType((*info)->base_type, (*info)->base_typmod, lookup);
  }
  if ((*info)->element_type != 0 && (*info)->element_type != oid) {
    auto element = MapType((*info)->element_type, typmod, lookup);
    if (!element) return element;
    ColumnType list = ListOf(std::move(*element));
    list.pg_oid = oid;
    return list;
  }
  return text;  // composites, ranges: their text form
}

}  // namespace walden::pg
