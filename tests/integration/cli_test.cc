// The walden binary's command line: versions, usage errors, configuration checking and
// logging formats, run as a real process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, VersionNamesDuckDbAndLibpq) {
  const CommandResult result = RunWalden({"version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.output,
              MatchesRegex("walden [0-9]+\\.[0-9]+\\.[0-9]+\nDuckDB v1\\.4\\.4\nlibpq "
                           "1[5-9]\\.[0-9]+\n"));
}

TEST(Cli, HelpListsTheSubcommands) {
  const CommandResult result = RunWalden({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* sub :
       {"run", "snapshot", "status", "query", "doctor", "demo", "config", "version", "tail"}) {
    EXPECT_THAT(result.output, HasSubstr(std::string("\n  ") + sub)) << sub;
  }
}

TEST(Cli, UnknownFlagIsOneLineAndUsage) {
  const CommandResult result = RunWalden({"doctor", "--frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden doctor: error: The following argument was not expected: --frobnicate\n"
            "Usage: walden doctor [OPTIONS]\n"
            "Run 'walden doctor --help' for all options.\n");
}

TEST(Cli, MissingValueIsOneLineAndUsage) {
  const CommandResult result = RunWalden({"doctor", "--source"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden doctor: error: --source-url: 1 required VALUE missing\n"
            "Usage: walden doctor [OPTIONS]\n"
            "Run 'walden doctor --help' for all options.\n");
}

TEST(Cli, UnknownSubcommand) {
  const CommandResult result = RunWalden({"frob"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output, ::testing::StartsWith("walden: error: "));
  EXPECT_THAT(result.output, HasSubstr("Usage: walden [OPTIONS] SUBCOMMAND\n"));
}

TEST(Cli, CommittedExampleConfigIsCurrentAndValid) {
  const std::string committed = ReadFile(std::string(WALDEN_SOURCE_DIR) + "/walden.example.toml");
  const CommandResult example = RunWalden({"config", "example"});
  EXPECT_EQ(example.exit_code, 0);
  EXPECT_EQ(example.output, committed)
      << "walden.example.toml is stale: regenerate with `walden config example`";
  const CommandResult check = RunWalden({"config", "check", "--config",
                                         std::string(WALDEN_SOURCE_DIR) + "/walden.example.toml",
                                         "--source-url", "postgresql://walden@db:5432/shop"});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("# configuration is valid"));
  EXPECT_THAT(check.output, HasSubstr("url = 'postgresql://walden@db:5432/shop'"));
}

TEST(Cli, ConfigCheckReportsErrorsWithExitCode2) {
  const std::string path = WriteTemp("bad.toml", "[archive]\nflush_size = \"huge\"\n");
  const CommandResult result = RunWalden({"config", "check", "--config", path});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: config: archive.flush_size = \"huge\" (" + path +
                ":2): expected a positive size: a whole number followed by a unit (B, kB, MB, "
                "GB or TB), e.g. \"64MB\"\n");
}

TEST(Cli, ConfigCheckRequiresASource) {
  const std::string path = WriteTemp("nosource.toml", "data_dir = \"/tmp/x\"\n");
  const CommandResult result = RunWalden({"config", "check", "--config", path});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: config: source.url is not set; set it in walden.toml, WALDEN_SOURCE_URL or "
            "--source-url\n");
}

TEST(Cli, ConfigCheckMasksPasswordsAndWarnsInJsonLogs) {
  const CommandResult result =
      RunWalden({"config", "check", "--log-format", "json"},
                {{"WALDEN_SOURCE_URL", "postgresql://walden:TopSecret1@db/shop"}});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr("TopSecret1")));
  EXPECT_THAT(result.output, HasSubstr("url = 'postgresql://walden:***@db/shop'"));
  const std::string first_line = result.output.substr(0, result.output.find('\n'));
  const auto record = nlohmann::json::parse(first_line);
  EXPECT_EQ(record["level"], "warning");
  EXPECT_EQ(record["msg"],
            "source.url contains a password; prefer PGPASSWORD or ~/.pgpass so it stays out of "
            "files and process listings");
  EXPECT_THAT(record["ts"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z"));
}

TEST(Cli, EnvironmentTyposAreCaught) {
  const CommandResult result =
      RunWalden({"config", "check"}, {{"WALDEN_SOURCE_ULR", "postgresql://db/shop"}});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: config: unknown environment variable \"WALDEN_SOURCE_ULR\" (environment); "
            "did you mean \"WALDEN_SOURCE_URL\"?\n");
}

TEST(Cli, BadLogFormatIsAConfigError) {
  const CommandResult result = RunWalden({"config", "check", "--log-format", "xml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.output,
            "walden: config: log.format = \"xml\" (flag --log-format): expected one of text, "
            "json\n");
}

TEST(Cli, DemoHoldsItsRateAndItsMirrorAnswersLikeTheSource) {
  const std::string data_dir = ::testing::TempDir() + "/demo-data";
  const CommandResult result =
      RunWalden({"demo", "--seconds", "10", "--rate", "200", "--json", "--data-dir", data_dir});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<nlohmann::json> windows;
  nlohmann::json summary;
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("{")) continue;
    auto record = nlohmann::json::parse(line);
    if (record.contains("summary")) {
      summary = record["summary"];
    } else {
      windows.push_back(std::move(record));
    }
  }
  ASSERT_GE(windows.size(), 2u) << result.output;
  for (const auto& window : windows) {
    EXPECT_GT(window["changes_per_s"].get<int64_t>(), 0) << window;
    EXPECT_GE(window["commit_to_mirror_p99_ms"].get<double>(),
              window["commit_to_mirror_p50_ms"].get<double>());
  }
  EXPECT_EQ(windows.back()["revenue_last_5_min"].size(), 4u) << windows.back();
  EXPECT_GT(windows.back()["archive_bytes"].get<int64_t>(), 0) << windows.back();
  // The generator kept the rate it was asked for, the column was added midway, and the
  // revenue per category from the mirror (through /api/query) equals the source's.
  ASSERT_TRUE(summary.is_object()) << result.output;
  EXPECT_EQ(summary["requested_transactions_per_s"], 200);
  EXPECT_NEAR(summary["transactions_per_s"].get<double>(), 200, 20) << summary;
  EXPECT_EQ(summary["failed"], 0) << summary;
  EXPECT_TRUE(summary["column_added"].get<bool>());
  EXPECT_EQ(summary["revenue"].size(), 4u) << summary;
  EXPECT_TRUE(summary["revenue_mirror_equals_source"].get<bool>()) << summary;
  EXPECT_GE(summary["commit_to_mirror_p99_ms"].get<double>(),
            summary["commit_to_mirror_p50_ms"].get<double>());
  EXPECT_THAT(result.output, HasSubstr("walden doctor on it: ready"));
  EXPECT_THAT(result.output, ::testing::ContainsRegex(
                                 "walden serves http://127\\.0\\.0\\.1:[0-9]+/api/status"));
  EXPECT_THAT(result.output, HasSubstr("everything walden captured is in "));
  // What it leaves behind answers queries, and the column added midway is there.
  const CommandResult query =
      RunWalden({"query", "--data-dir", data_dir + "/demo", "--format", "csv",
                 "SELECT count(*) > 0 AS orders, count(channel) = count(*) AS channel FROM "
                 "public.orders"});
  EXPECT_EQ(query.output, "orders,channel\ntrue,true\n");
}

}  // namespace
}  // namespace walden::testing
