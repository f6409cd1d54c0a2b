// The live feeds over HTTP (design §14): `GET /api/feed?table=schema.table` streams a
// captured table's committed changes and `GET /api/topics/<topic>/feed` a topic's messages,
// as Server-Sent Events fed from the capture path (FeedSink → FeedHub), never by polling
// PostgreSQL. A client resumes with Last-Event-ID (the header browsers send on reconnect,
// or the `last_event_id` parameter); events older than the hub's ring are replayed from
// the archive first (`replay`), and what neither holds (the archive not flushed that far)
// is announced with a `gap` event that names the history query returning it later. A client that
// falls behind gets a final `dropped` event; at most server.max_feed_clients are served at once.
// Thread-safety: the handlers run on the server's threads; the hub and the board are
// thread-safe.
#pragma once

#include <functional>
#include <vector>

#include "feed/hub.h"
#include "server/http_server.h"

namespace walden::pipeline {

class StatusBoard;

// Events of a stream after `after` up to `until` from the archive, and how far it holds
// them (feed_replay.h).
struct ReplayedEvents {
  std::vector<feed::Event> events;
  feed::EventId covered;
};
using Replay = std::function<Result<ReplayedEvents>(const QualifiedName&, feed::EventId after,
                                                    feed::EventId until)>;

// `captured`: whether a table is captured (feeds of other names are refused); topics are
// looked up in the board's status.
std::vector<server::Route> FeedRoutes(feed::FeedHub& hub, const StatusBoard& board,
                                      std::function<bool(const QualifiedName&)> captured,
                                      Replay replay);

}  // namespace walden::pipeline
