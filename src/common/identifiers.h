// SQL identifiers as PostgreSQL reads them: table selectors from configuration
// (`schema.table`, `schema.*`, `"Weird Schema"."Select"`) and quoting for generated SQL.
//
// Unquoted names fold ASCII letters to lower case; double quotes keep a name exactly and
// `""` inside quotes is one quote character. An unqualified table name means schema
// `public`. Thread-safety: pure functions and plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace walden {

struct QualifiedName {
  std::string schema;
  std::string name;

  // Always-quoted form for SQL text: "public"."orders".
  std::string ToSql() const;
  // Form for people and configuration: quotes only where needed, parses back to itself.
  std::string Display() const;
  friend bool operator==(const QualifiedName&, const QualifiedName&) = default;
  friend auto operator<=>(const QualifiedName&, const QualifiedName&) = default;
};

struct TableSelector {
  std::string schema;
  std::optional<std::string> table;  // nullopt: every table of the schema

  bool Matches(const QualifiedName& name) const;
  std::string Display() const;
  friend bool operator==(const TableSelector&, const TableSelector&) = default;
};

Result<TableSelector> ParseTableSelector(std::string_view text);

// "name" with embedded quotes doubled; safe for any identifier.
std::string QuoteIdent(std::string_view name);
// Quotes only when the name would not survive unquoted (capitals, spaces, quotes, ...).
std::string DisplayIdent(std::string_view name);
// 'text' with embedded single quotes doubled (standard_conforming_strings = on).
std::string QuoteLiteral(std::string_view text);

}  // namespace walden
