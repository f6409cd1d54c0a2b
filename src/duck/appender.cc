#include "duck/appender.h"

#include <fmt/core.h>

#include <memory>
#include <utility>
#include <vector>

namespace walden::duck {
namespace {

struct ValueDeleter {
  void operator()(duckdb_value value) const { duckdb_destroy_value(&value); }
};
using Value = std::unique_ptr<std::remove_pointer_t<duckdb_value>, ValueDeleter>;

struct TypeDeleter {
  void operator()(duckdb_logical_type type) const { duckdb_destroy_logical_type(&type); }
};
using LogicalType = std::unique_ptr<std::remove_pointer_t<duckdb_logical_type>, TypeDeleter>;

duckdb_hugeint Huge(Int128 value) {
  return duckdb_hugeint{static_cast<uint64_t>(value), static_cast<int64_t>(value >> 64)};
}

std::unexpected<Error> Mismatch(const ColumnType& type) {
  return Fail(ErrorKind::kInternal,
              fmt::format("value does not match column type {}", type.DuckDbName()));
}

// A DuckDB value for one Datum; used for types the typed append calls do not cover.
Result<Value> ToValue(const ColumnType& type, const Datum& datum) {
  if (datum.is_null()) return Value(duckdb_create_null_value());
  switch (type.kind) {
    case TypeKind::kDecimal: {
      const auto* d = std::get_if<Decimal>(&datum);
      if (!d) return Mismatch(type);
      return Value(duckdb_create_decimal(duckdb_decimal{static_cast<uint8_t>(type.precision),
                                                        static_cast<uint8_t>(type.scale),
                                                        Huge(d->unscaled)}));
    }
    case TypeKind::kUuid: {
      const auto* u = std::get_if<Uuid>(&datum);
      if (!u) return Mismatch(type);
      return Value(duckdb_create_uuid(
          duckdb_uhugeint{static_cast<uint64_t>(u->value), static_cast<uint64_t>(u->value >> 64)}));
    }
    case TypeKind::kTimeTz: {
      const auto* t = std::get_if<TimeTz>(&datum);
      if (!t) return Mismatch(type);
      return Value(
          duckdb_create_time_tz_value(duckdb_create_time_tz(t->micros, t->offset_seconds)));
    }
    case TypeKind::kList: {
      const auto* list = std::get_if<List>(&datum);
      if (!list) return Mismatch(type);
      std::vector<Value> owned;
      std::vector<duckdb_value> raw;
      for (const Datum& item : list->items) {
        auto value = ToValue(*type.element, item);
        if (!value) return value;
        raw.push_back(value->get());
        owned.push_back(std::move(*value));
      }
      LogicalType element(LogicalTypeOf(*type.element));
      // DuckDB refuses a null array even for an empty list.
      duckdb_value none = nullptr;
      return Value(
          duckdb_create_list_value(element.get(), raw.empty() ? &none : raw.data(), raw.size()));
    }
    case TypeKind::kBool:
      if (const auto* b = std::get_if<bool>(&datum)) return Value(duckdb_create_bool(*b));
      return Mismatch(type);
    case TypeKind::kInt16:
    case TypeKind::kInt32:
    case TypeKind::kInt64:
      if (const auto* i = std::get_if<int64_t>(&datum)) {
        return Value(type.kind == TypeKind::kInt16   ? duckdb_create_int16(static_cast<int16_t>(*i))
                     : type.kind == TypeKind::kInt32 ? duckdb_create_int32(static_cast<int32_t>(*i))
                                                     : duckdb_create_int64(*i));
      }
      return Mismatch(type);
    case TypeKind::kFloat32:
    case TypeKind::kFloat64:
      if (const auto* f = std::get_if<double>(&datum)) {
        return Value(type.kind == TypeKind::kFloat32 ? duckdb_create_float(static_cast<float>(*f))
                                                     : duckdb_create_double(*f));
      }
      return Mismatch(type);
    case TypeKind::kText:
    case TypeKind::kJson:
      if (const auto* s = std::get_if<std::string>(&datum)) {
        return Value(duckdb_create_varchar_length(s->data(), s->size()));
      }
      return Mismatch(type);
    case TypeKind::kBlob:
      if (const auto* b = std::get_if<Blob>(&datum)) {
        return Value(
            duckdb_create_blob(reinterpret_cast<const uint8_t*>(b->bytes.data()), b->bytes.size()));
      }
      return Mismatch(type);
    case TypeKind::kDate:
      if (const auto* d = std::get_if<Date>(&datum)) return Value(duckdb_create_date({d->days}));
      return Mismatch(type);
    case TypeKind::kTime:
      if (const auto* t = std::get_if<Time>(&datum)) return Value(duckdb_create_time({t->micros}));
      return Mismatch(type);
    case TypeKind::kTimestamp:
    case TypeKind::kTimestampTz:
      if (const auto* t = std::get_if<Timestamp>(&datum)) {
        return Value(type.kind == TypeKind::kTimestamp ? duckdb_create_timestamp({t->micros})
                                                       : duckdb_create_timestamp_tz({t->micros}));
      }
      return Mismatch(type);
    case TypeKind::kInterval:
      if (const auto* i = std::get_if<Interval>(&datum)) {
        return Value(duckdb_create_interval({i->months, i->days, i->micros}));
      }
      return Mismatch(type);
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
    : appender_(std::exchange(other.appender_, nullptr)) {}

Appender::~Appender() {
  if (appender_) duckdb_appender_destroy(&appender_);
}

Status Appender::Check(duckdb_state state, const char* what) {
  if (state == DuckDBSuccess) return {};
  const char* message = duckdb_appender_error(appender_);
  return Fail(ErrorKind::kIo,
              fmt::format("DuckDB: cannot {}: {}", what, message ? message : "unknown error"));
}

Status Appender::Append(const ColumnType& type, const Datum& value) {
  // Common scalars take DuckDB's typed fast paths; the rest go through duckdb_value.
  if (value.is_null()) return Check(duckdb_append_null(appender_), "append NULL");
  if (const auto* i = std::get_if<int64_t>(&value); i && type.kind == TypeKind::kInt64) {
    return Check(duckdb_append_int64(appender_, *i), "append BIGINT");
  }
  if (const auto* s = std::get_if<std::string>(&value);
      s && (type.kind == TypeKind::kText || type.kind == TypeKind::kJson)) {
    return Check(duckdb_append_varchar_length(appender_, s->data(), s->size()), "append VARCHAR");
  }
  auto duck_value = ToValue(type, value);
  if (!duck_value) return std::unexpected(duck_value.error());
  if (!*duck_value) {
    return Fail(ErrorKind::kInternal, "DuckDB could not build a " + type.DuckDbName() + " value");
  }
  return Check(duckdb_append_value(appender_, duck_value->get()), "append value");
}

Status Appender::AppendRow(std::span<const ColumnType> types, std::span<const Datum> values) {
  if (types.size() != values.size()) {
    return Fail(ErrorKind::kInternal,
                fmt::format("row has {} values for {} columns", values.size(), types.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (auto ok = Append(types[i], values[i]); !ok) return ok;
  }
  return Check(duckdb_appender_end_row(appender_), "end row");
}

Status Appender::Flush() { return Check(duckdb_appender_flush(appender_), "flush"); }

}  // namespace walden::duck
