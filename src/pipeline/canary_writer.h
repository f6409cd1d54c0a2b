// Writes the freshness canary's heartbeats into the source's WAL (design §6) as
// transactional logical messages, on a connection of its own that is opened again after
// PostgreSQL went away. Thread-safety: one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/error.h"
#include "pg/connection.h"
#include "pipeline/canary.h"

namespace walden::pipeline {

class CanaryWriter {
 public:
  // `stop`: a raised stop request ends a wait for the server at once.
  CanaryWriter(std::string conninfo, const std::atomic<bool>* stop)
      : conninfo_(std::move(conninfo)), stop_(stop) {}

  // kConnection while PostgreSQL is away: the next heartbeat connects again, and the
  // canary's staleness tells the rest.
  Status Write(const CanaryBeat& beat);

 private:
  std::string conninfo_;
  const std::atomic<bool>* stop_;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace walden::pipeline
