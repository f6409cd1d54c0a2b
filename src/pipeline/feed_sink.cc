#include "pipeline/feed_sink.h"

namespace walden::pipeline {

Status FeedSink::Add(const change::Change& change) {
  if (change.table && !hub_.Wants(change.table->name)) return {};
  if (auto event = feed::RowEvent(txn_, change)) {
    events_.emplace_back(change.table->name, std::move(*event));
  } else if (change.op == change::Op::kTruncate) {
    for (auto& truncated : feed::TruncateEvents(txn_, change)) {
      if (hub_.Wants(truncated.first)) events_.push_back(std::move(truncated));
    }
  }
  return {};
}

}  // namespace walden::pipeline
