// Writes the freshness canary's heartbeats into the source's WAL (design §6) as
// transactional logical messages, on a connection of its own that is opened again after
// PostgreSQL went away. Thread-safety: one thread.
#pragma once

#include <memory>
#include <string>

#include "common/error.h"
#include "pg/connection.h"
#include "pipeline/canary.h"

namespace walden::pipeline {

class CanaryWriter {
 public:
  explicit CanaryWriter(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  // kConnection while PostgreSQL is away: the next heartbeat connects again, and the
  // canary's staleness tells the rest.
  Status Write(const CanaryBeat& beat);

 private:
  std::string conninfo_;
  std::unique_ptr<pg::Connection> conn_;
};

}  // namespace walden::pipeline
