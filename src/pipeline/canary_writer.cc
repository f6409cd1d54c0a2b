#include "pipeline/canary_writer.h"

#include <fmt/core.h>

#include "common/identifiers.h"

namespace walden::pipeline {

Status CanaryWriter::Write(const CanaryBeat& beat) {
  if (!conn_) {
    auto conn = pg::Connection::Open(conninfo_, pg::LoopConnectOptions(stop_));
    if (!conn) return std::unexpected(conn.error());
    conn_ = std::make_unique<pg::Connection>(std::move(*conn));
  }
  auto sent =
      conn_->Exec(fmt::format("SELECT pg_logical_emit_message(true, {}, {})",
                              QuoteLiteral(kCanaryPrefix), QuoteLiteral(CanaryContent(beat))));
  if (!sent) {
    conn_.reset();
    return std::unexpected(sent.error());
  }
  return {};
}

}  // namespace walden::pipeline
