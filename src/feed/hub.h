// The live feeds' fan-out (design §14): the pipeline publishes each watched table's events
// here as transactions commit; every connected client of that table (or topic) reads them
// from the stream's ring at its own pace, by cursor. Nothing here ever waits for a client
// and a client costs no memory of its own: the ring (`ring_bytes` per stream) is the whole
// bound. A client whose next event leaves the ring before it read it is dropped at once
// (its state() says so; it reconnects with its Last-Event-ID), so a slow browser can neither slow
// the sinks nor grow walden's memory. The ring also serves clients that resume. Ids published twice
// (the slot replays after a restart) are kept once.
//
// Thread-safety: all members are thread-safe; Publish is meant for one thread (the run
// loop), clients for the HTTP threads. A client may outlive the hub.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "feed/event.h"

namespace walden::feed {

struct FeedLimits {
  size_t ring_bytes = size_t{32} << 20;  // per watched stream
  // A stream is watched while it has clients and this long after the last one left (its
  // events are made and kept); others cost nothing.
  std::chrono::seconds watch_for{600};
  int max_clients = 64;
  size_t batch_bytes = size_t{1} << 20;  // at most this much per Next (one event at least)
};

class FeedClient;

// Where a resuming client starts.
struct Resume {
  // Events after the client's id that the ring no longer holds: (after, covered_from].
  // Empty when the ring holds every event after the client's id.
  std::optional<std::pair<EventId, EventId>> missing;
};

class FeedHub {
 public:
  explicit FeedHub(FeedLimits limits = {});
  ~FeedHub();
  FeedHub(const FeedHub&) = delete;
  FeedHub& operator=(const FeedHub&) = delete;

  // Every event after `from` (a commit LSN) will be published: the point the slot replays
  // from at start. Until then, and for ids at or below it, the ring cannot say what it lacks.
  void Start(uint64_t from_lsn);
  // The streams whose events are wanted (watched); the publisher makes no others.
  std::set<QualifiedName> Watched() const;
  // A committed transaction (at `commit_lsn`) none of whose events anyone watches: later
  // clients of a stream start after it.
  void Skip(uint64_t commit_lsn) { Publish(commit_lsn, {}); }
  // One committed transaction (at `commit_lsn`): its events of watched streams, in order.
  void Publish(uint64_t commit_lsn, std::vector<std::pair<QualifiedName, Event>> events);

  // A client of `stream` getting every event after `after` (nullopt: from now on). A
  // kUsage error when max_clients are connected or the hub shut down.
  Result<std::shared_ptr<FeedClient>> Subscribe(const QualifiedName& stream,
                                                std::optional<EventId> after, Resume* resume);
  // Ends every client (their Next returns at once, state kClosed); later ones are refused.
  void Shutdown();

  int clients() const;
  uint64_t dropped_total() const;
  size_t ring_bytes() const;  // held by every stream's ring

  struct State;

 private:
  std::shared_ptr<State> state_;
};

class FeedClient {
 public:
  enum class State { kLive, kDropped, kClosed };  // dropped: fell behind; closed: hub gone
  // Waits up to `timeout` for events after the cursor; returns them (at most batch_bytes,
  // possibly none) and moves the cursor. Once dropped or closed, returns nothing.
  std::vector<std::shared_ptr<const Event>> Next(std::chrono::milliseconds timeout);
  State state() const;
  ~FeedClient();

 private:
  friend class FeedHub;
  friend struct FeedHub::State;
  std::shared_ptr<FeedHub::State> hub_;
  QualifiedName stream_;
  EventId cursor_;  // the last event handed out (or the point it started after)
  State state_ = State::kLive;
};

}  // namespace walden::feed
