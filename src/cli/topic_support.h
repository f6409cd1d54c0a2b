// What the topic, group and queue commands share: a connection to a database with the
// current SQL API, JSON-lines input from stdin, printing a result's JSON column, and the
// SQL functions' errors as one clean line.
// Thread-safety: pure functions on the caller's connection.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "pg/connection.h"

namespace walden::cli {

// source.url, with the topics API installed at this walden's version (else a kConfig error
// naming `walden topics init`).
Result<pg::Connection> OpenTopicsApi(const Config& config);

// Every non-blank line of `in` parsed as JSON; a kUsage error naming the first bad line.
Result<std::vector<nlohmann::json>> ReadJsonLines(std::FILE* in);

// Prints column 0 of every row, one per line; false when stdout is gone (a closed pipe).
bool PrintLines(const pg::PgResult& result);

// Prints the error as walden does everywhere, without the SQL statement that carried it
// (the commands' statements are fixed; the message says what was wrong).
int ReportApiError(const Error& error);

}  // namespace walden::cli
