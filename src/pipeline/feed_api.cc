#include "pipeline/feed_api.h"

#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "pipeline/feed_replay.h"
#include "pipeline/status.h"
#include "topics/schema.h"

namespace walden::pipeline {
namespace {

// Also how soon a client that left without a word frees its thread.
constexpr auto kKeepAlive = std::chrono::seconds(5);

server::Response Refuse(int status, std::string why) {
  return {.status = status, .body = std::move(why) + "\n"};
}

// The `gap` event: what the client missed that walden cannot send now, the history query
// that returns it, and why.
std::string GapEvent(const QualifiedName& stream, feed::EventId after, feed::EventId until,
                     const std::string& why) {
  const std::string sql =
      fmt::format("SELECT * FROM history.{} WHERE {} ORDER BY _walden_lsn, _walden_seq",
                  stream.ToSql(), HistoryWindow(after, until));
  return "event: gap\ndata: " +
         nlohmann::json{{"after", after.ToString()},
                        {"until", until.ToString()},
                        {"history", sql},
                        {"why", why}}
             .dump() +
         "\n\n";
}

std::string EventText(const feed::Event& event, std::string_view kind) {
  return fmt::format("id: {}\nevent: {}\ndata: {}\n\n", event.id.ToString(), kind, event.data);
}

// What a resuming client missed before the ring: from the archive, then a gap for the rest.
std::string Missed(const QualifiedName& stream, const feed::Resume& resume, const Replay& replay,
                   std::string_view kind) {
  const auto& [after, until] = *resume.missing;
  if (!replay) return GapEvent(stream, after, until, "walden keeps no earlier events");
  auto replayed = replay(stream, after, until);
  if (!replayed) return GapEvent(stream, after, until, replayed.error().message);
  std::string out;
  for (const feed::Event& event : replayed->events) out += EventText(event, kind);
  if (replayed->covered < until) {
    out += GapEvent(stream, std::max(after, replayed->covered), until,
                    "the archive has not flushed these changes yet");
  }
  return out;
}

// Streams `stream`'s events to one client until it leaves, falls behind or walden stops.
server::Response Serve(feed::FeedHub& hub, const QualifiedName& stream, std::string_view kind,
                       const Replay& replay, const server::Request& request) {
  std::string last = request.headers.contains("last-event-id") ? request.headers.at("last-event-id")
                     : request.params.contains("last_event_id") ? request.params.at("last_event_id")
                                                                : "";
  std::optional<feed::EventId> after;
  if (!last.empty()) {
    after = feed::EventId::Parse(last);
    if (!after) {
      return Refuse(400, "walden: Last-Event-ID \"" + last +
                             "\" is not an event id of this feed (ids look like "
                             "00000000016B3748-2); reconnect without it to start from now");
    }
  }
  feed::Resume resume;
  auto client = hub.Subscribe(stream, after, &resume);
  if (!client) return Refuse(503, client.error().message);
  server::Response response{.content_type = "text/event-stream"};
  response.headers["Cache-Control"] = "no-store";
  response.headers["X-Accel-Buffering"] = "no";
  response.stream = [client = std::move(*client), stream, resume, replay,
                     kind = std::string(kind)](const server::StreamWrite& write) {
    std::string out = "retry: 1000\n\n";
    if (resume.missing) out += Missed(stream, resume, replay, kind);
    if (!write(out)) return;
    while (true) {
      auto events = client->Next(std::chrono::duration_cast<std::chrono::milliseconds>(kKeepAlive));
      if (events.empty()) {
        const auto state = client->state();
        if (state == feed::FeedClient::State::kDropped) {
          (void)write(
              "event: dropped\ndata: {\"reason\":\"this client fell behind the feed; reconnect "
              "with its Last-Event-ID\"}\n\n");
          return;
        }
        if (state == feed::FeedClient::State::kClosed || !write(": keep-alive\n\n")) return;
        continue;
      }
      out.clear();
      for (const auto& event : events) out += EventText(*event, kind);
      if (!write(out)) return;
    }
  };
  return response;
}

}  // namespace

std::vector<server::Route> FeedRoutes(feed::FeedHub& hub, const StatusBoard& board,
                                      std::function<bool(const QualifiedName&)> captured,
                                      Replay replay) {
  auto table_feed = [&hub, captured = std::move(captured), replay](const server::Request& request) {
    const std::string text = request.params.contains("table") ? request.params.at("table") : "";
    auto selector = ParseTableSelector(text);
    if (text.empty() || !selector || !selector->table) {
      return Refuse(400, "walden: name one table: /api/feed?table=schema.table");
    }
    const QualifiedName name{selector->schema, *selector->table};
    if (!captured(name)) {
      return Refuse(404, "walden: " + name.Display() +
                             " is not a captured table (`walden status` lists them)");
    }
    return Serve(hub, name, "change", replay, request);
  };
  auto topic_feed = [&hub, &board, replay](const server::Request& request) {
    const std::string topic = request.matches.empty() ? "" : request.matches[0];
    const RunStatus status = board.Latest();
    if (std::ranges::none_of(status.topics, [&](const auto& t) { return t.topic == topic; })) {
      return Refuse(404, "walden: no topic \"" + topic + "\" (`walden topic list` lists them)");
    }
    return Serve(hub, {std::string(topics::kTopicsSchema), topic}, "message", replay, request);
  };
  return {{.method = "GET", .path = "/api/feed", .handler = table_feed},
          {.method = "GET", .path = "/api/topics/([^/]+)/feed", .handler = topic_feed}};
}

}  // namespace walden::pipeline
