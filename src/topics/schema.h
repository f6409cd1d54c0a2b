// The topics-and-queues SQL API (design §12) as installed in the source database: which
// version is there, installing or upgrading it, and the check `walden run` makes.
//
// Version N is the files 001..N of src/topics/sql, embedded in the binary; upgrading applies
// every newer file in one transaction, under an advisory lock (two `walden topics init` at
// once apply each file once), and never rewrites a message table.
// Thread-safety: functions on one Connection, used by one thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "pg/connection.h"

namespace walden::topics {

struct SqlFile {
  std::string_view name;  // "001_topics_and_queues.sql"
  std::string_view sql;
};

// What `walden topics init` publishes every topic and queue table in (via the partitioned
// root), and `walden run` reads besides source.publication.
inline constexpr std::string_view kPublication = "walden_topics";
// Where each topic's table lives (walden_topics.<topic>), and its message key column.
inline constexpr std::string_view kTopicsSchema = "walden_topics";
inline constexpr std::string_view kKeyColumn = "key";

// The publications whose tables walden captures: source.publication, and kPublication when
// the API is installed, readable by this role and published.
Result<std::vector<std::string>> CapturedPublications(pg::Connection& conn,
                                                      const std::string& source_publication);

// Every versioned file, in version order.
std::span<const SqlFile> SqlFiles();
// The version this binary installs.
int LatestVersion();

// 0 when the API is not installed. An error when a schema `walden` exists that is not
// walden's (no version table), since installing over it would mix two owners' objects.
Result<int> InstalledVersion(pg::Connection& conn);

struct InstallResult {
  int from = 0;  // version before (0: not installed)
  int to = 0;    // version now
  // Why the publication could not be created (e.g. FOR TABLES IN SCHEMA needs a superuser);
  // empty when it exists. Topics work without it, but walden run does not capture them.
  std::string publication_error;
};
// Installs or upgrades to `version` (the latest unless a test asks for an older one to
// upgrade from); a database already at a newer version is an error.
Result<InstallResult> Install(pg::Connection& conn, int version = LatestVersion());

// Whether kPublication exists (walden run reads it when it does).
Result<bool> PublicationExists(pg::Connection& conn);
// For `walden run` and the CLI: fine when not installed (0) or current; a kConfig error
// naming the command that upgrades an older version, or asking for a newer walden when the
// database's is newer.
Status CheckVersion(int installed, int latest, std::string_view database);

}  // namespace walden::topics
