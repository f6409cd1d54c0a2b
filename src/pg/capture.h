// The capture side of the pipeline: a replication connection, the pgoutput decoder and the
// assembler, handing whole committed transactions to a callback in commit order.
//
// Resilience: a lost connection or a restarted server is retried with backoff and jitter,
// resuming from what the caller confirmed; transactions already handed out are not handed
// out again. Poll never waits past its timeout for a reconnect: while PostgreSQL is away
// it returns with nothing, one attempt is made when it is due, and the caller's loop runs
// on (merges, flushes, stop requests). A slot held by another reader is waited for (or taken over
// with `takeover`).
//
// Feedback (design §2): flush is only what the caller confirmed durable (`Confirm`); when
// every handed-out transaction is confirmed and nothing is open, the keepalive's WAL end is
// confirmed too, so the slot advances while the captured tables are quiet. The server's
// reply requests are answered at once. Thread-safety: one thread drives Poll and Confirm.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "common/lsn.h"
#include "pg/assembler.h"
#include "pg/catalog.h"
#include "pg/replication.h"

namespace walden::pg {

// Exponential backoff with jitter for reconnects: 500 ms doubling to 5 s (the cap is how
// long walden may stay behind once PostgreSQL is back).
class Backoff {
 public:
  std::chrono::milliseconds Next();
  void Reset() { current_ = initial_; }

 private:
  std::chrono::milliseconds initial_{500};
  std::chrono::milliseconds current_{500};
  std::chrono::milliseconds max_{5000};
};

struct CaptureOptions {
  std::string conninfo;
  std::string slot;
  bool temporary_slot = false;  // dropped when the connection ends (walden tail)
  std::string publication;
  std::vector<QualifiedName> tables;  // empty: every table
  // Publications walden does not manage that it reads too (the topics API's, which
  // publishes partitioned topic tables via their root).
  std::vector<std::string> extra_publications;
  bool failover = false;
  bool binary = false;
  bool takeover = false;  // terminate another backend holding the slot instead of waiting
  size_t memory_limit = 64u << 20;
  std::string spill_dir;
  std::chrono::milliseconds status_interval{10000};
  // A stream silent this long, even after a keepalive request at half of it, is treated as
  // lost and reconnected (PostgreSQL's wal_receiver_timeout, for walden).
  std::chrono::milliseconds receive_timeout{30000};
  // When it turns true, waits for the server or for the slot end at once (with an error:
  // stop_requested() then says why), so a stop request is honoured in every state.
  const std::atomic<bool>* stop = nullptr;
  // Called before a status message confirms a position past every earlier one; when it
  // fails, that position is not confirmed (yet). walden run records it (runner.h).
  std::function<Status(Lsn)> before_confirm;
};

struct CaptureStats {
  Lsn received;   // end of the last WAL data received
  Lsn confirmed;  // last flush position sent to the server
  uint64_t transactions = 0;
  uint64_t changes = 0;
  uint64_t reconnects = 0;
};

class Capture {
 public:
  using OnCommit = std::function<Status(CommittedTransaction&&)>;

  static Result<std::unique_ptr<Capture>> Start(const CaptureOptions& options);

  // Receives for up to `timeout`, calling `on_commit` for each committed transaction.
  Status Poll(std::chrono::milliseconds timeout, const OnCommit& on_commit);
  // Everything up to and including the transaction ending at `end_lsn` is durable.
  void Confirm(Lsn end_lsn);
  // Sends the current position now (e.g. before exiting).
  Status Flush();

  // For a clean stop: a WAL position every transaction committed so far lies before (after
  // a synchronous commit of a 'walden_drain' message, which the sinks ignore, even when the
  // source runs with synchronous_commit = off), and whether every transaction that
  // committed before `target` has been handed out (the stream has passed it and no
  // transaction is open). RequestProgress asks the server to report how far it has sent.
  Result<Lsn> DrainTarget();
  bool CaughtUpTo(Lsn target) const {
    return std::max(stats_.received, server_end_) >= target && assembler_.idle();
  }
  Status RequestProgress() { return SendStatus(true); }

  // WAL the slot holds (current WAL position minus confirmed flush), from the catalog; also
  // notes how far the slot's walsender has read (pg_stat_replication.sent_lsn).
  Result<int64_t> SlotLagBytes();
  // A stream that is connected but dead: nothing arrived for `quiet` and the server's
  // walsender did not move either (a hung backend, a half-open connection). Logs why,
  // ends that walsender and reconnects; otherwise does nothing. The caller asks only
  // when it knows changes are due (the canary's heartbeat did not arrive).
  Status ReconnectIfStalled(std::chrono::milliseconds quiet);
  // Logs a warning when the lag first exceeds `threshold`, and again after it recovered
  // and crossed once more; returns the lag.
  Result<int64_t> CheckLag(int64_t threshold);

  const CaptureStats& stats() const { return stats_; }
  bool stop_requested() const { return options_.stop && options_.stop->load(); }
  const SlotState& slot() const { return slot_; }
  size_t spilled_bytes() const { return assembler_.spilled_bytes(); }
  int protocol_version() const { return protocol_version_; }

 private:
  Capture(ReplicationConnection conn, Connection catalog, const CaptureOptions& options);
  Status HandleXLogData(const XLogData& data, const OnCommit& on_commit);
  Status PollOnce(std::chrono::steady_clock::time_point deadline, const OnCommit& on_commit,
                  bool& done);
  // After a wait that brought nothing: asks for a keepalive once the stream has been quiet
  // for half of receive_timeout, and fails (kConnection) when that went unanswered too.
  Status CheckSilence();
  // `wait_for_slot`: while another reader holds the slot, wait (backing off) instead of
  // failing with a kConnection error.
  Status StartStreaming(bool wait_for_slot = true);
  // The stream is gone: open transactions are dropped, the next attempt is scheduled (at
  // once, or after the backoff).
  void Disconnected(const Error& cause, bool at_once);
  // One reconnect attempt when it is due; fails only when retrying cannot help.
  Status TryReconnect();
  // Reopens the catalog connection when it was lost; OpenCatalog always does. Opening gives
  // up at a stop request unless not `interruptible` (the stop's own drain).
  Status EnsureCatalog(bool interruptible = true);
  // The catalog connection for a type or column look-up, reopened when it was closed.
  Connection& Catalog();
  Status OpenCatalog(bool interruptible = true);
  Status SendStatus(bool reply);
  // Sleeps up to `delay`; false (at once) when a stop was requested.
  bool Pause(std::chrono::milliseconds delay) const;

  ReplicationConnection conn_;
  Connection catalog_;  // normal connection: catalog look-ups and lag
  CaptureOptions options_;
  Assembler assembler_;
  SlotState slot_;
  CaptureStats stats_;
  int protocol_version_ = 0;
  Lsn handed_out_;  // end LSN of the last transaction given to on_commit
  Lsn durable_;     // what the caller confirmed
  Lsn server_end_;  // WAL end from the last keepalive
  Lsn noted_;       // highest position before_confirm accepted
  std::chrono::steady_clock::time_point last_status_{};
  std::chrono::steady_clock::time_point last_message_{};  // anything from the server
  std::optional<std::chrono::steady_clock::time_point> ping_sent_;  // unanswered request
  Lsn sender_sent_;                                       // walsender's sent_lsn, last seen
  std::chrono::steady_clock::time_point sender_moved_{};  // when it last changed
  bool lag_warned_ = false;
  Backoff backoff_;
  bool connected_ = true;  // never false with a temporary slot: its loss ends Poll
  std::chrono::steady_clock::time_point next_attempt_{};  // of a reconnect, while !connected_
};

}  // namespace walden::pg
