#include "pipeline/feed_sink.h"

namespace walden::pipeline {

Status FeedSink::Add(const change::Change& change) {
  if (change.table && !watched_.contains(change.table->name)) return {};
  if (auto event = feed::RowEvent(txn_, change)) {
    events_.emplace_back(change.table->name, std::move(*event));
  } else if (change.op == change::Op::kTruncate) {
    for (auto& truncated : feed::TruncateEvents(txn_, change)) {
      if (watched_.contains(truncated.first)) events_.push_back(std::move(truncated));
    }
  }
  return {};
}

}  // namespace walden::pipeline
