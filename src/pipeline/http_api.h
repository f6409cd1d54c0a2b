// The HTTP API of `walden run` (docs/security.md for who may call what): health and
// readiness, status and Prometheus metrics, read-only SQL over the mirror and the history,
// exports of the mirror, and snapshot requests handed to the run loop. Also where a
// running walden leaves its address for the CLI.
// Thread-safety: handlers run on the server's threads; they read the status board and the
// sinks' histograms (both thread-safe) and query the mirror through DuckDB connections of
// their own.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "duck/duckdb.h"
#include "query/history.h"
#include "server/http_server.h"

namespace walden::pipeline {

class ArchiveSink;
class MirrorSink;
class StatusBoard;

// Starts serving config.server_listen and writes ServerFile. `on_snapshot` takes a POST
// /api/snapshot body and answers "job <id>" or why not (SnapshotControl::Queue); `more`
// are served too (the feeds, the console).
Result<std::unique_ptr<server::HttpServer>> StartHttpApi(
    const Config& config, duck::Database& database, const StatusBoard& board, MirrorSink& mirror,
    ArchiveSink& archive, store::ObjectStore& store, const query::ArchiveSnapshot& history,
    std::function<std::string(const std::string&)> on_snapshot, std::vector<server::Route> more);

// Where a running walden leaves {"address": "host:port", "pid": N} of its HTTP endpoint.
std::string ServerFile(const std::string& data_dir);
// The address a running walden published there, or a kConnection error saying it has not.
Result<std::string> RunningAddress(const std::string& data_dir);
// The directories SQL on the mirror may read or write (docs/security.md): walden's own
// segment and history files, the archive when it is local, and mirror.export_dir.
std::vector<std::string> QueryableDirectories(const Config& config);
// Where history queries keep local copies of archived files (absolute).
std::string HistoryCache(const Config& config);
// query.price_* as the history planner's rates.
query::Rates Rates(const Config& config);
// query.timeout and query.max_result as the bounds of one query.
query::QueryOptions QueryBounds(const Config& config);

}  // namespace walden::pipeline
