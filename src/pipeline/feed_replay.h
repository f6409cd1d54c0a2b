// Replays a live feed's events from the archive (design §14): what a client resuming with
// an old Last-Event-ID missed and the feed's ring no longer holds. A bounded history query
// (the commit LSN window the client missed) over `history.<schema>.<table>`, planned,
// checked and contained like any other, turned into events of the live feed's form: the
// same ids, ops and envelope; values in DuckDB's text form except numbers, booleans, lists
// and JSON (live events type them from the change model; the archive's DECIMAL and the like
// come back as the same text). Thread-safety: any thread (its own DuckDB connection).
#pragma once

#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "duck/duckdb.h"
#include "feed/event.h"
#include "pipeline/feed_api.h"
#include "query/history.h"
#include "store/object_store.h"

namespace walden::pipeline {

// The history-query condition for the changes after `after` up to commit LSN `until.lsn`
// (bounded by LSN, so the planner reads only their files).
std::string HistoryWindow(feed::EventId after, feed::EventId until);

// Events of `table` after `after` up to `until` that the archive holds, in order, and how
// far it holds them: to its watermark, or to `confirmed` (what walden confirmed at start:
// every row change up to there was archived, since confirming waits for the archive).
Result<ReplayedEvents> ReplayFromArchive(duck::Database& database, store::ObjectStore& store,
                                         const archive::ArchiveState& state, const Config& config,
                                         const QualifiedName& table, feed::EventId after,
                                         feed::EventId until, Lsn confirmed);

}  // namespace walden::pipeline
