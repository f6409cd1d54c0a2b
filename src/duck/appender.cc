#include "duck/appender.h"

#include <fmt/core.h>

#include <memory>
#include <utility>
#include <vector>

namespace walden::duck {
namespace {

struct TypeDeleter {
  void operator()(duckdb_logical_type type) const { duckdb_destroy_logical_type(&type); }
};
using LogicalType = std::unique_ptr<std::remove_pointer_t<duckdb_logical_type>, TypeDeleter>;

std::unexpected<Error> Mismatch(const ColumnType& type) {
  return Fail(ErrorKind::kInternal,
              fmt::format("value does not match column type {}", type.DuckDbName()));
}

template <class T>
void Put(duckdb_vector vector, idx_t row, T value) {
  static_cast<T*>(duckdb_vector_get_data(vector))[row] = value;
}

// A decimal's unscaled value in the width DuckDB stores for its precision.
void PutDecimal(duckdb_vector vector, idx_t row, int precision, Int128 unscaled) {
  if (precision <= 4) return Put(vector, row, static_cast<int16_t>(unscaled));
  if (precision <= 9) return Put(vector, row, static_cast<int32_t>(unscaled));
  if (precision <= 18) return Put(vector, row, static_cast<int64_t>(unscaled));
  Put(vector, row,
      duckdb_hugeint{static_cast<uint64_t>(unscaled), static_cast<int64_t>(unscaled >> 64)});
}

Status Write(duckdb_vector vector, const ColumnType& type, idx_t row, const Datum& value,
             duckdb_type actual = DUCKDB_TYPE_INVALID);

// An integer in the width of the column it goes to (the caller's kInt64 may fill, say, a
// UINTEGER column the table was created with).
bool PutInteger(duckdb_vector vector, idx_t row, TypeKind kind, duckdb_type actual, int64_t v) {
  switch (actual) {
    case DUCKDB_TYPE_TINYINT:
      return Put(vector, row, static_cast<int8_t>(v)), true;
    case DUCKDB_TYPE_SMALLINT:
      return Put(vector, row, static_cast<int16_t>(v)), true;
    case DUCKDB_TYPE_INTEGER:
      return Put(vector, row, static_cast<int32_t>(v)), true;
    case DUCKDB_TYPE_BIGINT:
      return Put(vector, row, v), true;
    case DUCKDB_TYPE_UTINYINT:
      return Put(vector, row, static_cast<uint8_t>(v)), true;
    case DUCKDB_TYPE_USMALLINT:
      return Put(vector, row, static_cast<uint16_t>(v)), true;
    case DUCKDB_TYPE_UINTEGER:
      return Put(vector, row, static_cast<uint32_t>(v)), true;
    case DUCKDB_TYPE_UBIGINT:
      return Put(vector, row, static_cast<uint64_t>(v)), true;
    case DUCKDB_TYPE_INVALID:  // a list's element: the column type says the width
      if (kind == TypeKind::kInt16) return Put(vector, row, static_cast<int16_t>(v)), true;
      if (kind == TypeKind::kInt32) return Put(vector, row, static_cast<int32_t>(v)), true;
      return Put(vector, row, v), true;
    default:
      return false;
  }
}

Status WriteList(duckdb_vector vector, const ColumnType& type, idx_t row, const List& list) {
  const idx_t offset = duckdb_list_vector_get_size(vector);
  if (duckdb_list_vector_reserve(vector, offset + list.items.size()) != DuckDBSuccess) {
    return Fail(ErrorKind::kIo, "DuckDB: cannot grow a list vector");
  }
  duckdb_vector child = duckdb_list_vector_get_child(vector);
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (auto ok = Write(child, *type.element, offset + i, list.items[i]); !ok) return ok;
  }
  duckdb_list_vector_set_size(vector, offset + list.items.size());
  Put(vector, row, duckdb_list_entry{offset, list.items.size()});
  return {};
}

// Writes one value straight into the chunk's vector: no duckdb_value per cell. `actual`:
// the column's DuckDB type where known (top-level columns).
Status Write(duckdb_vector vector, const ColumnType& type, idx_t row, const Datum& value,
             duckdb_type actual) {
  if (value.is_null()) {
    duckdb_vector_ensure_validity_writable(vector);
    duckdb_validity_set_row_invalid(duckdb_vector_get_validity(vector), row);
    return {};
  }
  switch (type.kind) {
    case TypeKind::kBool:
      if (const auto* b = std::get_if<bool>(&value)) return Put(vector, row, *b), Status{};
      break;
    case TypeKind::kInt16:
    case TypeKind::kInt32:
    case TypeKind::kInt64:
      if (const auto* i = std::get_if<int64_t>(&value)) {
        if (PutInteger(vector, row, type.kind, actual, *i)) return {};
      }
      break;
    case TypeKind::kFloat32:
    case TypeKind::kFloat64:
      if (const auto* f = std::get_if<double>(&value)) {
        if (type.kind == TypeKind::kFloat32) Put(vector, row, static_cast<float>(*f));
        if (type.kind == TypeKind::kFloat64) Put(vector, row, *f);
        return {};
      }
      break;
    case TypeKind::kDecimal:
      if (const auto* d = std::get_if<Decimal>(&value)) {
        return PutDecimal(vector, row, type.precision, d->unscaled), Status{};
      }
      break;
    case TypeKind::kText:
    case TypeKind::kJson:
      if (const auto* s = std::get_if<std::string>(&value)) {
        duckdb_vector_assign_string_element_len(vector, row, s->data(), s->size());
        return {};
      }
      break;
    case TypeKind::kBlob:
      if (const auto* b = std::get_if<Blob>(&value)) {
        duckdb_vector_assign_string_element_len(vector, row, b->bytes.data(), b->bytes.size());
        return {};
      }
      break;
    case TypeKind::kDate:
      if (const auto* d = std::get_if<Date>(&value)) return Put(vector, row, d->days), Status{};
      break;
    case TypeKind::kTime:
      if (const auto* t = std::get_if<Time>(&value)) return Put(vector, row, t->micros), Status{};
      break;
    case TypeKind::kTimeTz:
      if (const auto* t = std::get_if<TimeTz>(&value)) {
        return Put(vector, row, duckdb_create_time_tz(t->micros, t->offset_seconds)), Status{};
      }
      break;
    case TypeKind::kTimestamp:
    case TypeKind::kTimestampTz:
      if (const auto* t = std::get_if<Timestamp>(&value)) {
        return Put(vector, row, t->micros), Status{};
      }
      break;
    case TypeKind::kInterval:
      if (const auto* i = std::get_if<Interval>(&value)) {
        return Put(vector, row, duckdb_interval{i->months, i->days, i->micros}), Status{};
      }
      break;
    case TypeKind::kUuid:
      if (const auto* u = std::get_if<Uuid>(&value)) {
        // DuckDB keeps a UUID as a signed 128-bit integer with the top bit flipped, so that
        // it sorts like the unsigned value.
        const auto upper = static_cast<uint64_t>(u->value >> 64) ^ (uint64_t{1} << 63);
        Put(vector, row,
            duckdb_hugeint{static_cast<uint64_t>(u->value), static_cast<int64_t>(upper)});
        return {};
      }
      break;
    case TypeKind::kList:
      if (const auto* list = std::get_if<List>(&value)) return WriteList(vector, type, row, *list);
      break;
  }
  return Mismatch(type);
}

}  // namespace

duckdb_logical_type LogicalTypeOf(const ColumnType& type) {
  switch (type.kind) {
    case TypeKind::kBool:
      return duckdb_create_logical_type(DUCKDB_TYPE_BOOLEAN);
    case TypeKind::kInt16:
      return duckdb_create_logical_type(DUCKDB_TYPE_SMALLINT);
    case TypeKind::kInt32:
      return duckdb_create_logical_type(DUCKDB_TYPE_INTEGER);
    case TypeKind::kInt64:
      return duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    case TypeKind::kFloat32:
      return duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
    case TypeKind::kFloat64:
      return duckdb_create_logical_type(DUCKDB_TYPE_DOUBLE);
    case TypeKind::kDecimal:
      return duckdb_create_decimal_type(static_cast<uint8_t>(type.precision),
                                        static_cast<uint8_t>(type.scale));
    case TypeKind::kText:
    case TypeKind::kJson:
      return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    case TypeKind::kBlob:
      return duckdb_create_logical_type(DUCKDB_TYPE_BLOB);
    case TypeKind::kDate:
      return duckdb_create_logical_type(DUCKDB_TYPE_DATE);
    case TypeKind::kTime:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIME);
    case TypeKind::kTimeTz:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIME_TZ);
    case TypeKind::kTimestamp:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP);
    case TypeKind::kTimestampTz:
      return duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP_TZ);
    case TypeKind::kInterval:
      return duckdb_create_logical_type(DUCKDB_TYPE_INTERVAL);
    case TypeKind::kUuid:
      return duckdb_create_logical_type(DUCKDB_TYPE_UUID);
    case TypeKind::kList: {
      LogicalType element(LogicalTypeOf(*type.element));
      return duckdb_create_list_type(element.get());
    }
  }
  return duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
}

Result<Appender> Appender::Open(Connection& conn, const std::string& schema,
                                const std::string& table, const std::string& catalog) {
  duckdb_appender appender = nullptr;
  if (duckdb_appender_create_ext(conn.get(), catalog.empty() ? nullptr : catalog.c_str(),
                                 schema.c_str(), table.c_str(), &appender) == DuckDBError) {
    std::string message = appender ? duckdb_appender_error(appender) : "unknown error";
    if (appender) duckdb_appender_destroy(&appender);
    return Fail(ErrorKind::kIo,
                "DuckDB: cannot append to " + schema + "." + table + ": " + message);
  }
  return Appender(appender);
}

Appender::Appender(Appender&& other) noexcept
    : appender_(std::exchange(other.appender_, nullptr)),
      chunk_(std::exchange(other.chunk_, nullptr)),
      rows_(std::exchange(other.rows_, 0)),
      ids_(std::move(other.ids_)) {}

Appender::~Appender() {
  if (appender_) (void)Flush();
  if (chunk_) duckdb_destroy_data_chunk(&chunk_);
  if (appender_) duckdb_appender_destroy(&appender_);
}

Status Appender::Check(duckdb_state state, const char* what) {
  if (state == DuckDBSuccess) return {};
  const char* message = duckdb_appender_error(appender_);
  return Fail(ErrorKind::kIo,
              fmt::format("DuckDB: cannot {}: {}", what, message ? message : "unknown error"));
}

// A chunk shaped like the table: columns typed as the appender reports them.
void Appender::NewChunk() {
  const idx_t columns = duckdb_appender_column_count(appender_);
  std::vector<LogicalType> owned;
  std::vector<duckdb_logical_type> types;
  for (idx_t i = 0; i < columns; ++i) {
    owned.emplace_back(duckdb_appender_column_type(appender_, i));
    types.push_back(owned.back().get());
  }
  chunk_ = duckdb_create_data_chunk(types.data(), columns);
  rows_ = 0;
  ids_.clear();
  for (duckdb_logical_type type : types) ids_.push_back(duckdb_get_type_id(type));
}

Status Appender::AppendChunk() {
  if (!chunk_ || rows_ == 0) return {};
  duckdb_data_chunk_set_size(chunk_, rows_);
  const duckdb_state state = duckdb_append_data_chunk(appender_, chunk_);
  duckdb_destroy_data_chunk(&chunk_);
  rows_ = 0;
  return Check(state, "append rows");
}

Status Appender::StartRow(size_t types, size_t values) {
  if (!chunk_) NewChunk();
  const idx_t columns = duckdb_data_chunk_get_column_count(chunk_);
  if (types != values || values != columns) {
    return Fail(ErrorKind::kInternal, fmt::format("row has {} values for {} types and {} columns",
                                                  values, types, columns));
  }
  return {};
}

Status Appender::WriteCell(size_t column, const ColumnType& type, const Datum& value) {
  auto written =
      Write(duckdb_data_chunk_get_vector(chunk_, column), type, rows_, value, ids_[column]);
  if (!written) {
    // The chunk holds a half-written row: drop what it holds unappended.
    duckdb_destroy_data_chunk(&chunk_);
    rows_ = 0;
  }
  return written;
}

Status Appender::EndRow() {
  if (++rows_ == duckdb_vector_size()) return AppendChunk();
  return {};
}

Status Appender::AppendRow(std::span<const ColumnType> types, std::span<const Datum> values) {
  if (auto ok = StartRow(types.size(), values.size()); !ok) return ok;
  for (size_t i = 0; i < values.size(); ++i) {
    if (auto ok = WriteCell(i, types[i], values[i]); !ok) return ok;
  }
  return EndRow();
}

Status Appender::AppendRow(std::span<const ColumnType> types,
                           std::span<const Datum* const> values) {
  static const Datum kNull{Null{}};
  if (auto ok = StartRow(types.size(), values.size()); !ok) return ok;
  for (size_t i = 0; i < values.size(); ++i) {
    if (auto ok = WriteCell(i, types[i], values[i] ? *values[i] : kNull); !ok) return ok;
  }
  return EndRow();
}

Status Appender::Flush() {
  if (auto ok = AppendChunk(); !ok) return ok;
  return Check(duckdb_appender_flush(appender_), "flush");
}

}  // namespace walden::duck
