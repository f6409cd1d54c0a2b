// The live feeds' sink (design §14): each committed transaction's row changes and
// truncates, as feed events, handed to the FeedHub once the transaction is complete. It
// keeps nothing durable and never holds back what the slot may forget: a restart replays
// from the other sinks' watermarks and the hub keeps each id once.
// Thread-safety: the run loop's thread, like every sink.
#pragma once

#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "feed/hub.h"
#include "pipeline/sink.h"

namespace walden::pipeline {

class FeedSink : public Sink {
 public:
  explicit FeedSink(feed::FeedHub& hub) : hub_(hub) {}
  std::string_view name() const override { return "feed"; }
  // Takes nothing while nobody watches (the loop then need not even type the changes);
  // which tables are watched is read once per transaction, not per change.
  bool Begin(const change::TransactionInfo& txn) override {
    watched_ = hub_.Watched();
    if (watched_.empty()) {
      hub_.Skip(txn.commit_lsn.value);
      return false;
    }
    txn_ = txn;
    events_.clear();
    return true;
  }
  Status Add(const change::Change& change) override;
  void Commit() override { hub_.Publish(txn_.commit_lsn.value, std::exchange(events_, {})); }
  Lsn durable_end() const override { return Lsn{std::numeric_limits<uint64_t>::max()}; }
  bool Due() const override { return false; }
  Status FlushIfDue() override { return {}; }
  Status Flush() override { return {}; }
  CanaryRelay& canaries() override { return canaries_; }  // heartbeats are not fed

 private:
  feed::FeedHub& hub_;
  change::TransactionInfo txn_;
  std::vector<std::pair<QualifiedName, feed::Event>> events_;
  std::set<QualifiedName> watched_;
  CanaryRelay canaries_;
};

}  // namespace walden::pipeline
