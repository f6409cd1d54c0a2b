#include "pg/replication.h"

#include <poll.h>

#include <chrono>

#include "common/byte_reader.h"
#include "common/strings.h"
#include "common/units.h"
#include "pg/types.h"

namespace walden::pg {
namespace {

int64_t NowPgMicros() { return UnixMicrosToPgTime(UnixNowMicros()); }

std::string PublicationTables(const std::vector<QualifiedName>& tables) {
  std::vector<std::string> names;
  for (const QualifiedName& t : tables) names.push_back(t.ToSql());
  return Join(names, ", ");
}

}  // namespace

int ProtocolVersionFor(int server_version) {
  if (server_version >= 160000) return 4;
  if (server_version >= 150000) return 3;
  return 2;
}

Result<StreamEvent> ParseCopyData(std::string_view bytes) {
  ByteReader r(bytes.data(), bytes.size());
  const uint8_t type = r.U8();
  if (type == 'w') {
    XLogData data{Lsn{r.U64()}, Lsn{r.U64()}, r.I64(), {}};
    data.payload = r.Rest();
    if (r.ok() && !data.payload.empty()) return data;
  } else if (type == 'k') {
    Keepalive keepalive{Lsn{r.U64()}, r.I64(), r.U8() != 0};
    if (r.AtEnd()) return keepalive;
  }
  return Fail(ErrorKind::kProtocol, "malformed replication message (type " +
                                        std::to_string(int(type)) + ", " +
                                        std::to_string(bytes.size()) + " bytes)");
}

Result<ReplicationConnection> ReplicationConnection::Open(const std::string& conninfo,
                                                          ConnectOptions options) {
  // Fixed session settings make the text form of values predictable (types.h).
  options.replication = true;
  options.options = kReplicationSessionOptions;
  auto conn = Connection::Open(conninfo, options);
  if (!conn) return std::unexpected(conn.error());
  return ReplicationConnection(std::move(*conn));
}

Result<SystemIdentity> ReplicationConnection::IdentifySystem() {
  auto result = conn_.Exec("IDENTIFY_SYSTEM");
  if (!result) return std::unexpected(result.error());
  if (result->rows() != 1 || result->columns() < 4) {
    return Fail(ErrorKind::kProtocol, "unexpected IDENTIFY_SYSTEM result");
  }
  SystemIdentity id;
  id.system_id = result->Value(0, 0);
  auto timeline = result->Int(0, 1);
  if (!timeline) return std::unexpected(timeline.error());
  id.timeline = static_cast<int>(*timeline);
  id.wal_position = Lsn::Parse(result->Value(0, 2)).value_or(Lsn{});
  id.database = result->Value(0, 3);
  return id;
}

Status ReplicationConnection::EnsurePublication(const std::string& name,
                                                const std::vector<QualifiedName>& tables) {
  // Checked before anything is created: a source that cannot decode is left as it was.
  auto level = conn_.QueryValue("SHOW wal_level");
  if (!level) return std::unexpected(level.error());
  if (*level != "logical") {
    return Fail(ErrorKind::kConfig,
                "wal_level is " + *level +
                    "; logical decoding needs logical: ALTER SYSTEM SET wal_level = logical; "
                    "then restart PostgreSQL (`walden doctor` checks everything walden needs)");
  }
  const std::string quoted = QuoteIdent(name);
  // Replication connections speak only the simple query protocol: no parameters.
  auto existing = conn_.Exec("SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = " +
                             QuoteLiteral(name));
  if (!existing) return std::unexpected(existing.error());
  if (existing->rows() == 0) {
    const std::string sql =
        "CREATE PUBLICATION " + quoted +
        (tables.empty() ? " FOR ALL TABLES" : " FOR TABLE " + PublicationTables(tables));
    if (auto created = conn_.Exec(sql); !created) {
      return Wrap(created.error(), "cannot create publication " + DisplayIdent(name) +
                                       " (run `walden doctor` for the fix)");
    }
    return {};
  }
  if (existing->Value(0, 0) == "t" || tables.empty()) return {};
  auto published = conn_.Exec(
      "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = " +
      QuoteLiteral(name));
  if (!published) return std::unexpected(published.error());
  std::vector<QualifiedName> missing;
  for (const QualifiedName& table : tables) {
    bool found = false;
    for (int row = 0; row < published->rows() && !found; ++row) {
      found = published->Value(row, 0) == table.schema && published->Value(row, 1) == table.name;
    }
    if (!found) missing.push_back(table);
  }
  if (missing.empty()) return {};
  if (auto added =
          conn_.Exec("ALTER PUBLICATION " + quoted + " ADD TABLE " + PublicationTables(missing));
      !added) {
    return Wrap(added.error(), "cannot add tables to publication " + DisplayIdent(name));
  }
  return {};
}

Result<SlotState> ReplicationConnection::EnsureSlot(const SlotOptions& options) {
  auto existing = conn_.Exec(
      "SELECT s.plugin, s.slot_type, d.datname = current_database(), s.wal_status, "
      "s.confirmed_flush_lsn FROM pg_catalog.pg_replication_slots s "
      "LEFT JOIN pg_catalog.pg_database d ON d.oid = s.datoid WHERE s.slot_name = " +
      QuoteLiteral(options.name));
  if (!existing) return std::unexpected(existing.error());
  if (existing->rows() == 1) {
    if (existing->Value(0, 1) != "logical" || existing->Value(0, 0) != "pgoutput") {
      return Fail(ErrorKind::kConfig,
                  "replication slot " + options.name + " uses plugin " +
                      std::string(existing->Value(0, 0)) +
                      ", not pgoutput; drop it (SELECT pg_drop_replication_slot('" + options.name +
                      "')) or set source.slot to another name");
    }
    if (existing->Value(0, 2) != "t") {
      return Fail(ErrorKind::kConfig, "replication slot " + options.name +
                                          " belongs to another database; set source.slot to "
                                          "another name");
    }
    if (existing->Value(0, 3) == "lost") {
      return Fail(ErrorKind::kUnsupported,
                  "replication slot " + options.name +
                      " is lost: PostgreSQL removed WAL it still needed, so changes are "
                      "missing; recover with `walden resync`");
    }
    return SlotState{.confirmed_flush = Lsn::Parse(existing->Value(0, 4)).value_or(Lsn{})};
  }
  std::string sql = "CREATE_REPLICATION_SLOT " + QuoteIdent(options.name) + " LOGICAL pgoutput";
  if (conn_.server_version() >= 150000) {
    sql += std::string(" (SNAPSHOT '") + (options.export_snapshot ? "export" : "nothing") + "'";
    if (options.failover && conn_.server_version() >= 170000) sql += ", FAILOVER true";
    sql += ")";
  } else {
    sql += options.export_snapshot ? " EXPORT_SNAPSHOT" : " NOEXPORT_SNAPSHOT";
  }
  if (options.failover && conn_.server_version() < 170000) {
    return Fail(ErrorKind::kConfig,
                "source.failover needs PostgreSQL 17 or later; set it to false");
  }
  auto created = conn_.Exec(sql);
  if (!created) return std::unexpected(created.error());
  SlotState state{.created = true};
  state.consistent_point = Lsn::Parse(created->Value(0, 1)).value_or(Lsn{});
  state.confirmed_flush = state.consistent_point;
  if (!created->IsNull(0, 2)) state.snapshot_name = created->Value(0, 2);
  return state;
}

namespace {

std::string PublicationNames(const StreamOptions& options) {
  std::string names = QuoteIdent(options.publication);
  for (const std::string& extra : options.extra_publications) names += "," + QuoteIdent(extra);
  return names;
}

}  // namespace

Status ReplicationConnection::StartStreaming(const StreamOptions& options) {
  const int version = options.protocol_version ? options.protocol_version
                                               : ProtocolVersionFor(conn_.server_version());
  std::string sql = "START_REPLICATION SLOT " + QuoteIdent(options.slot) + " LOGICAL " +
                    options.start.ToString() + " (proto_version '" + std::to_string(version) +
                    "', publication_names " + QuoteLiteral(PublicationNames(options)) +
                    ", messages 'true'";
  if (version >= 2) sql += ", streaming 'on'";
  if (options.binary) sql += ", binary 'true'";
  sql += ")";
  auto started = conn_.Exec(sql);
  if (!started) return std::unexpected(started.error());
  if (PQresultStatus(started->get()) != PGRES_COPY_BOTH) {
    return Fail(ErrorKind::kProtocol, "START_REPLICATION did not enter COPY BOTH mode");
  }
  return {};
}

Result<std::optional<CopyMessage>> ReplicationConnection::Receive(
    std::chrono::milliseconds timeout) {
  PGconn* raw = conn_.get();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(raw, &buffer, /*async=*/1);
    if (length > 0) return std::optional<CopyMessage>(CopyMessage(buffer, length));
    if (length == -2) {
      return Fail(ErrorKind::kConnection,
                  "replication stream failed: " + OneLine(PQerrorMessage(raw)));
    }
    if (length == -1) {
      PGresult* end = PQgetResult(raw);
      std::string message = end ? OneLine(PQresultErrorMessage(end)) : "";
      PQclear(end);
      return Fail(ErrorKind::kConnection,
                  message.empty() ? "PostgreSQL closed the replication connection (the server "
                                    "shut down or restarted, or the connection was cut)"
                                  : "PostgreSQL ended the replication stream: " + message);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::optional<CopyMessage>();
    pollfd fd{PQsocket(raw), POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return Fail(ErrorKind::kConnection, "poll on the replication socket failed");
    }
    if (PQconsumeInput(raw) == 0) {
      return Fail(ErrorKind::kConnection,
                  "replication connection lost: " + OneLine(PQerrorMessage(raw)));
    }
  }
}

Status ReplicationConnection::SendStatus(Lsn write, Lsn flush, bool reply) {
  ByteWriter w;
  w.U8('r');
  w.U64(write.value);
  w.U64(flush.value);
  w.U64(flush.value);  // applied: walden applies what it flushed
  w.I64(NowPgMicros());
  w.U8(reply ? 1 : 0);
  PGconn* raw = conn_.get();
  if (PQputCopyData(raw, w.data().data(), static_cast<int>(w.data().size())) != 1 ||
      PQflush(raw) != 0) {
    return Fail(ErrorKind::kConnection,
                "cannot send standby status: " + OneLine(PQerrorMessage(raw)));
  }
  return {};
}

}  // namespace walden::pg
