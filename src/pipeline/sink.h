// What the run loop needs of a sink (design §1, §2), and all it knows of one: committed
// transactions go in, in commit order, as the neutral change model (change/change.h); the
// sink makes them durable at its own cadence and reports how far it got. The loop confirms
// to PostgreSQL the minimum of every sink's durable end, so each sink alone decides when
// its changes are safe.
//
// Contract: for each transaction the loop calls Begin; when it returns true, Add with each
// change in order, then Commit. Begin returns false for a transaction whose commit LSN is
// at or below the sink's durable watermark (applied before a restart): it gets none of its
// changes. Every other transaction is applied exactly once, all of it or none of it (an
// error from Add ends the run before Commit; the slot sends the transaction again).
// durable_end never goes back; FlushIfDue does what is due without waiting for the sink's
// store or for other sinks; Flush returns once everything committed so far is durable.
// Sinks never see each other. Thread-safety: the loop's thread drives a sink; a sink may
// run its own work on other threads.
#pragma once

#include <span>
#include <string_view>

#include "change/change.h"
#include "common/error.h"
#include "common/lsn.h"
#include "pipeline/canary.h"

namespace walden::pipeline {

class Sink {
 public:
  virtual ~Sink() = default;
  // For logs and metrics labels ("archive", "mirror").
  virtual std::string_view name() const = 0;
  virtual bool Begin(const change::TransactionInfo& txn) = 0;
  virtual Status Add(const change::Change& change) = 0;
  virtual void Commit() = 0;
  // Everything up to and including this end LSN is durable in the sink.
  virtual Lsn durable_end() const = 0;
  // FlushIfDue has work to do now: the loop stops receiving to let it run.
  virtual bool Due() const = 0;
  virtual Status FlushIfDue() = 0;
  virtual Status Flush() = 0;
  // Heartbeats the sink received, and those it made durable (visible).
  virtual CanaryRelay& canaries() = 0;
};

// What the loop may confirm to PostgreSQL: the end LSN every sink has made durable.
Lsn MinDurable(std::span<Sink* const> sinks);

}  // namespace walden::pipeline
