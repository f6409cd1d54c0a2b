// A captured change as a live-feed event (design §14): what `/api/feed` and the topic feeds
// send as Server-Sent Events. Its id orders events in commit order (commit LSN, then the
// change's position in its transaction), so a client's Last-Event-ID says exactly where it
// stopped. Values are JSON: booleans and integers and floats as JSON values, lists as
// arrays, JSON columns embedded, every other type in DuckDB's text form (what the console's
// queries show). Thread-safety: plain values and pure functions.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "change/change.h"
#include "common/datum.h"

namespace walden::feed {

struct EventId {
  uint64_t lsn = 0;  // commit LSN of the transaction
  int64_t seq = 0;   // the change's position in it
  friend auto operator<=>(const EventId&, const EventId&) = default;
  // "<16 hex digits>-<seq>", e.g. "00000000016B3748-2" (sorts as text in commit order).
  std::string ToString() const;
  // nullopt for anything that is not an id ToString made.
  static std::optional<EventId> Parse(std::string_view text);
};

struct Event {
  EventId id;
  std::string data;  // one JSON object on one line
};

// A value of a column of type `type` as JSON text.
std::string ValueJson(const ColumnType& type, const Datum& value);

// The event of one row change (insert, update, delete), or nullopt for changes that are
// not (snapshot reads, schema changes, messages, walden's own markers). Truncates are
// TruncateEvents.
std::optional<Event> RowEvent(const change::TransactionInfo& txn, const change::Change& change);

// One event per truncated table: {"op":"truncate", ...}, each with the change's id.
std::vector<std::pair<QualifiedName, Event>> TruncateEvents(const change::TransactionInfo& txn,
                                                            const change::Change& change);

}  // namespace walden::feed
