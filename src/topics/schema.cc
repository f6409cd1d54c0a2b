#include "topics/schema.h"

#include <fmt/core.h>

#include <charconv>

namespace walden::topics {
namespace {

// Any constant both `walden topics init` processes agree on; chosen to be unlikely to
// collide with an application's own advisory locks.
constexpr int64_t kInstallLock = 0x77616c64656e7431;  // "waldent1"

int VersionOf(std::string_view file_name) {
  int version = 0;
  std::from_chars(file_name.data(), file_name.data() + file_name.size(), version);
  return version;
}

Status Apply(pg::Connection& conn, int from, int to) {
  for (const SqlFile& file : SqlFiles()) {
    const int version = VersionOf(file.name);
    if (version <= from || version > to) continue;
    if (auto applied = conn.Exec(file.sql); !applied) {
      return Wrap(applied.error(), fmt::format("cannot apply topics API file {}", file.name));
    }
  }
  auto recorded = conn.Exec(fmt::format(
      "INSERT INTO walden.schema_version (version) VALUES ({0}) "
      "ON CONFLICT (one) DO UPDATE SET version = {0}, installed_at = now()",
      to));
  if (!recorded) return std::unexpected(recorded.error());
  return {};
}

// Inside the install's transaction, under a savepoint: without the privilege the API is
// still installed, and the caller says what to run.
Result<std::string> EnsurePublication(pg::Connection& conn) {
  auto exists = PublicationExists(conn);
  if (!exists) return std::unexpected(exists.error());
  if (*exists) return std::string();
  const std::string create = fmt::format(
      "CREATE PUBLICATION {} FOR TABLES IN SCHEMA walden_topics, walden_queues "
      "WITH (publish_via_partition_root = true)",
      kPublication);
  if (auto saved = conn.Exec("SAVEPOINT walden_publication"); !saved) {
    return std::unexpected(saved.error());
  }
  auto created = conn.Exec(create);
  if (created) return std::string();
  if (auto back = conn.Exec("ROLLBACK TO SAVEPOINT walden_publication"); !back) {
    return std::unexpected(back.error());
  }
  std::string why = created.error().message;
  if (const size_t in = why.rfind(" [in: "); in != std::string::npos) why.resize(in);
  return fmt::format("{}; a superuser can run: {};", why, create);
}

}  // namespace

Result<bool> PublicationExists(pg::Connection& conn) {
  auto found = conn.Exec(fmt::format(
      "SELECT count(*) FROM pg_catalog.pg_publication WHERE pubname = '{}'", kPublication));
  if (!found) return std::unexpected(found.error());
  return found->Value(0, 0) != "0";
}

Result<std::vector<std::string>> CapturedPublications(pg::Connection& conn,
                                                      const std::string& source_publication) {
  std::vector<std::string> publications{source_publication};
  auto installed = InstalledVersion(conn);
  if (!installed && installed.error().kind == ErrorKind::kPermission) return publications;
  if (!installed) return std::unexpected(installed.error());
  if (*installed == 0) return publications;
  auto published = PublicationExists(conn);
  if (!published) return std::unexpected(published.error());
  if (*published) publications.emplace_back(kPublication);
  return publications;
}

int LatestVersion() { return SqlFiles().empty() ? 0 : VersionOf(SqlFiles().back().name); }

Result<int> InstalledVersion(pg::Connection& conn) {
  // Privileges are asked, never run into: a failed statement would end the caller's
  // transaction (the initial load reads in one).
  auto schema = conn.Exec(
      "SELECT n IS NOT NULL, n IS NULL OR has_schema_privilege(n, 'USAGE') "
      "FROM (SELECT to_regnamespace('walden') AS n) s");
  if (!schema) return std::unexpected(schema.error());
  if (schema->Value(0, 0) != "t") return 0;
  const auto denied = [&](const char* what) {
    return Fail(ErrorKind::kPermission,
                fmt::format("permission denied for {} walden{}", what,
                            std::string_view(what) == "schema" ? "" : ".schema_version"));
  };
  if (schema->Value(0, 1) != "t") return denied("schema");
  auto found = conn.Exec(
      "SELECT c IS NOT NULL, c IS NULL OR has_table_privilege(c, 'SELECT') "
      "FROM (SELECT to_regclass('walden.schema_version') AS c) s");
  if (!found) return std::unexpected(found.error());
  if (found->Value(0, 1) != "t") return denied("table");
  if (found->Value(0, 0) != "t") {
    return Fail(ErrorKind::kConfig,
                "schema walden exists in database " + conn.database() +
                    " but is not walden's topics API (no walden.schema_version); rename or drop "
                    "that schema, then run `walden topics init`");
  }
  auto version = conn.Exec("SELECT version FROM walden.schema_version");
  if (!version) return std::unexpected(version.error());
  if (version->rows() != 1) return 0;
  auto number = version->Int(0, 0);
  if (!number) return std::unexpected(number.error());
  return static_cast<int>(*number);
}

Result<InstallResult> Install(pg::Connection& conn, int version) {
  if (auto begun = conn.Exec("BEGIN"); !begun) return std::unexpected(begun.error());
  auto finish = [&](Status status) -> Status {
    if (!status) {
      (void)conn.Exec("ROLLBACK");
      return status;
    }
    if (auto committed = conn.Exec("COMMIT"); !committed) {
      return std::unexpected(committed.error());
    }
    return {};
  };
  InstallResult result;
  Status status = [&]() -> Status {
    if (auto locked = conn.Exec(fmt::format("SELECT pg_advisory_xact_lock({})", kInstallLock));
        !locked) {
      return std::unexpected(locked.error());
    }
    auto installed = InstalledVersion(conn);
    if (!installed) return std::unexpected(installed.error());
    result = {.from = *installed, .to = version};
    if (result.from > result.to) return CheckVersion(result.from, result.to, conn.database());
    if (result.from < result.to) {
      if (auto applied = Apply(conn, result.from, result.to); !applied) return applied;
    }
    auto published = EnsurePublication(conn);
    if (!published) return std::unexpected(published.error());
    result.publication_error = *published;
    return {};
  }();
  if (auto done = finish(std::move(status)); !done) return std::unexpected(done.error());
  return result;
}

Status CheckVersion(int installed, int latest, std::string_view database) {
  if (installed == 0 || installed == latest) return {};
  if (installed < latest) {
    return Fail(ErrorKind::kConfig,
                fmt::format("database {} has topics API version {}; this walden needs {}: run "
                            "`walden topics init` to upgrade it (messages are kept)",
                            database, installed, latest));
  }
  return Fail(ErrorKind::kConfig,
              fmt::format("database {} has topics API version {}, newer than this walden's {}; "
                          "use a newer walden",
                          database, installed, latest));
}

}  // namespace walden::topics
