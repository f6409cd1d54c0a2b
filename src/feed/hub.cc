#include "feed/hub.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>

namespace walden::feed {

struct FeedHub::State {
  struct Stream {
    std::deque<std::shared_ptr<const Event>> ring;
    size_t ring_bytes = 0;
    EventId covered_from;  // every event after this id is in the ring (or never existed)
    std::set<FeedClient*> clients;
    std::chrono::steady_clock::time_point last_client;
  };
  FeedLimits limits;
  mutable std::mutex mutex;
  std::condition_variable published_cv;
  // Every event after this id reached the hub (those of streams nobody watched, skipped).
  EventId published;
  std::map<QualifiedName, Stream> streams;
  int clients = 0;
  uint64_t dropped = 0;
  bool shut = false;

  Stream& StreamOf(const QualifiedName& name) {
    auto [it, added] = streams.try_emplace(name);
    if (added) it->second.covered_from = published;
    return it->second;
  }
  // Clients whose next event left the ring unread.
  void DropBehind(Stream& stream) {
    for (FeedClient* client : stream.clients) {
      if (client->state_ == FeedClient::State::kLive && client->cursor_ < stream.covered_from) {
        client->state_ = FeedClient::State::kDropped;
        ++dropped;
      }
    }
  }
  bool Watched(const Stream& stream) const {
    return !stream.clients.empty() ||
           std::chrono::steady_clock::now() - stream.last_client < limits.watch_for;
  }
};

FeedHub::FeedHub(FeedLimits limits) : state_(std::make_shared<State>()) { state_->limits = limits; }

FeedHub::~FeedHub() { Shutdown(); }

void FeedHub::Shutdown() {
  std::lock_guard lock(state_->mutex);
  state_->shut = true;
  state_->published_cv.notify_all();
}

void FeedHub::Start(uint64_t from_lsn) {
  std::lock_guard lock(state_->mutex);
  // The transaction at `from_lsn` itself is not replayed: the highest id of it.
  state_->published = {from_lsn, INT64_MAX};
  for (auto& [name, stream] : state_->streams) stream.covered_from = state_->published;
}

std::set<QualifiedName> FeedHub::Watched() const {
  std::lock_guard lock(state_->mutex);
  std::set<QualifiedName> watched;
  for (const auto& [name, stream] : state_->streams) {
    if (state_->Watched(stream)) watched.insert(name);
  }
  return watched;
}

void FeedHub::Publish(uint64_t commit_lsn, std::vector<std::pair<QualifiedName, Event>> events) {
  std::lock_guard lock(state_->mutex);
  state_->published = std::max(state_->published, EventId{commit_lsn, INT64_MAX});
  for (auto& [name, event] : events) {
    auto it = state_->streams.find(name);
    if (it == state_->streams.end()) continue;
    State::Stream& stream = it->second;
    if (!state_->Watched(stream)) {
      state_->streams.erase(it);  // nothing kept: a later client is told of the gap
      continue;
    }
    const EventId last = stream.ring.empty() ? stream.covered_from : stream.ring.back()->id;
    if (event.id <= last) continue;  // published before (a replay after a restart)
    auto shared = std::make_shared<const Event>(std::move(event));
    stream.ring_bytes += shared->data.size();
    stream.ring.push_back(std::move(shared));
    bool evicted = false;
    while (stream.ring_bytes > state_->limits.ring_bytes && stream.ring.size() > 1) {
      stream.ring_bytes -= stream.ring.front()->data.size();
      stream.covered_from = stream.ring.front()->id;
      stream.ring.pop_front();
      evicted = true;
    }
    if (evicted) state_->DropBehind(stream);
  }
  state_->published_cv.notify_all();
}

Result<std::shared_ptr<FeedClient>> FeedHub::Subscribe(const QualifiedName& name,
                                                       std::optional<EventId> after,
                                                       Resume* resume) {
  if (resume) *resume = {};
  std::lock_guard lock(state_->mutex);
  if (state_->shut) return Fail(ErrorKind::kUsage, "walden: walden is stopping");
  if (state_->clients >= state_->limits.max_clients) {
    return Fail(ErrorKind::kUsage,
                "walden: " + std::to_string(state_->limits.max_clients) +
                    " feed clients are connected (server.max_feed_clients); try again later");
  }
  State::Stream& stream = state_->StreamOf(name);
  auto client = std::shared_ptr<FeedClient>(new FeedClient());
  client->hub_ = state_;
  client->stream_ = name;
  const EventId now = stream.ring.empty() ? stream.covered_from : stream.ring.back()->id;
  client->cursor_ = after ? *after : now;
  if (after && *after < stream.covered_from) {
    if (resume) resume->missing = std::pair{*after, stream.covered_from};
    client->cursor_ = stream.covered_from;  // what the ring still holds follows
  }
  stream.clients.insert(client.get());
  stream.last_client = std::chrono::steady_clock::now();
  ++state_->clients;
  return client;
}

int FeedHub::clients() const {
  std::lock_guard lock(state_->mutex);
  return state_->clients;
}

size_t FeedHub::ring_bytes() const {
  std::lock_guard lock(state_->mutex);
  size_t bytes = 0;
  for (const auto& [name, stream] : state_->streams) bytes += stream.ring_bytes;
  return bytes;
}

uint64_t FeedHub::dropped_total() const {
  std::lock_guard lock(state_->mutex);
  return state_->dropped;
}

std::vector<std::shared_ptr<const Event>> FeedClient::Next(std::chrono::milliseconds timeout) {
  FeedHub::State& hub = *hub_;
  std::unique_lock lock(hub.mutex);
  std::vector<std::shared_ptr<const Event>> out;
  auto stream = hub.streams.find(stream_);
  auto ready = [&] {
    if (hub.shut) state_ = State::kClosed;
    if (state_ != State::kLive) return true;
    stream = hub.streams.find(stream_);
    return stream != hub.streams.end() && !stream->second.ring.empty() &&
           stream->second.ring.back()->id > cursor_;
  };
  if (!hub.published_cv.wait_for(lock, timeout, ready) || state_ != State::kLive) return out;
  const auto& ring = stream->second.ring;
  auto it = std::ranges::upper_bound(ring, cursor_, {}, [](const auto& e) { return e->id; });
  size_t bytes = 0;
  for (; it != ring.end() && (out.empty() || bytes < hub.limits.batch_bytes); ++it) {
    bytes += (*it)->data.size();
    out.push_back(*it);
  }
  if (!out.empty()) cursor_ = out.back()->id;
  return out;
}

FeedClient::State FeedClient::state() const {
  std::lock_guard lock(hub_->mutex);
  return state_;
}

FeedClient::~FeedClient() {
  std::lock_guard lock(hub_->mutex);
  --hub_->clients;
  auto it = hub_->streams.find(stream_);
  if (it != hub_->streams.end()) {
    it->second.clients.erase(this);
    it->second.last_client = std::chrono::steady_clock::now();
  }
}

}  // namespace walden::feed
