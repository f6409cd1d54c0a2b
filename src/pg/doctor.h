// `walden doctor`: checks that a source database can feed walden, and for every problem
// says the exact statement or configuration line that fixes it (design §6).
//
// It connects like a normal client (and, when the role may, once in replication mode to
// prove that walsender connections work). It changes nothing on the server.
// Thread-safety: a pure function of the server's state.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "common/identifiers.h"

namespace walden::pg {

enum class Severity { kOk, kInfo, kWarning, kBlocking };

struct Finding {
  std::string check;  // stable id: "wal_level", "replication_privilege", ...
  Severity severity = Severity::kOk;
  std::string message;  // what was found
  std::string fix;      // SQL or configuration that fixes it; empty when nothing to do
};

struct DoctorOptions {
  std::string conninfo;
  std::string slot = "walden";
  std::string publication = "walden";
  std::vector<TableSelector> tables;  // empty: every table
};

struct DoctorReport {
  std::string target;          // redacted connection string
  std::string server_version;  // "PostgreSQL 15.4"
  std::vector<Finding> findings;

  bool Ready() const;  // no blocking finding
  int Count(Severity severity) const;
};

// Fails only when the server cannot be reached at all (the error says why); every other
// problem is a finding.
Result<DoctorReport> RunDoctor(const DoctorOptions& options);

std::string_view SeverityName(Severity severity);

}  // namespace walden::pg
