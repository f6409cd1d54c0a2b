#include "pipeline/sink.h"

#include <algorithm>

namespace walden::pipeline {

Lsn MinDurable(std::span<Sink* const> sinks) {
  Lsn durable{UINT64_MAX};
  for (const Sink* sink : sinks) durable = std::min(durable, sink->durable_end());
  return durable;
}

}  // namespace walden::pipeline
