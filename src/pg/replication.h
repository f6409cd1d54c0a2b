// A logical replication connection (libpq, replication=database): identify the system,
// create or verify the pgoutput slot and the publication, START_REPLICATION, receive
// XLogData and keepalives, send standby status updates.
//
// It only moves bytes and positions; decoding is pgoutput.h, assembly assembler.h, and
// what may be confirmed is decided by the caller (flush is only ever what sinks made
// durable). Thread-safety: one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"
#include "common/lsn.h"
#include "pg/connection.h"

namespace walden::pg {

struct SystemIdentity {
  std::string system_id;
  int timeline = 0;
  Lsn wal_position;
  std::string database;
};

struct SlotState {
  bool created = false;       // true when this call created it
  Lsn confirmed_flush;        // where streaming resumes
  Lsn consistent_point;       // only when created
  std::string snapshot_name;  // only when created with an exported snapshot
};

struct SlotOptions {
  std::string name;
  bool failover = false;         // PostgreSQL 17+
  bool export_snapshot = false;  // keep the snapshot for an initial load
};

struct StreamOptions {
  std::string slot;
  std::string publication;
  std::vector<std::string> extra_publications;  // read besides `publication` (topics)
  Lsn start;
  int protocol_version = 0;  // 0: from the server version (2 on 14, 3 on 15, 4 on 16+)
  bool binary = false;
};

// Payload views point into the buffer the message owns.
struct XLogData {
  Lsn start;
  Lsn end;
  int64_t send_time = 0;
  std::string_view payload;
};
struct Keepalive {
  Lsn end;
  int64_t send_time = 0;
  bool reply_requested = false;
};

class CopyMessage {
 public:
  CopyMessage(char* buffer, int length) : buffer_(buffer, &PQfreemem), length_(length) {}
  std::string_view bytes() const { return {buffer_.get(), static_cast<size_t>(length_)}; }

 private:
  std::unique_ptr<char, decltype(&PQfreemem)> buffer_;
  int length_;
};

using StreamEvent = std::variant<XLogData, Keepalive>;
Result<StreamEvent> ParseCopyData(std::string_view bytes);

class ReplicationConnection {
 public:
  // `options`: timeouts and interrupt (a reconnect from the run loop keeps them short, so
  // that an unreachable host does not hold the loop); replication mode and the session
  // settings are always set here. The answer timeout applies to walsender commands, not to
  // the stream (Receive has its own).
  static Result<ReplicationConnection> Open(const std::string& conninfo,
                                            ConnectOptions options = {});

  Result<SystemIdentity> IdentifySystem();
  // Creates the publication for `tables` (every table when empty) or adds missing tables;
  // refuses (changing nothing) when the server's wal_level is not logical.
  Status EnsurePublication(const std::string& name, const std::vector<QualifiedName>& tables);
  // Creates the slot or checks that the existing one is a usable pgoutput slot here.
  Result<SlotState> EnsureSlot(const SlotOptions& options);
  Status StartStreaming(const StreamOptions& options);

  // Next CopyData message, waiting up to `timeout`; nullopt when none arrived in time.
  // A server that ends the stream or drops the connection gives a kConnection error.
  Result<std::optional<CopyMessage>> Receive(std::chrono::milliseconds timeout);
  // Standby status update: written/flushed/applied positions; `reply` asks for a keepalive.
  Status SendStatus(Lsn write, Lsn flush, bool reply = false);

  Connection& sql() { return conn_; }
  // Ends the connection now; every later call fails with a kConnection error.
  void Close() { conn_.Close(); }
  int server_version() const { return conn_.server_version(); }

 private:
  explicit ReplicationConnection(Connection conn) : conn_(std::move(conn)) {}
  Connection conn_;
};

int ProtocolVersionFor(int server_version);

}  // namespace walden::pg
