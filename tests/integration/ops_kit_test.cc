// The operations kit in deploy/ against the real thing: promtool accepts the alert rules,
// systemd accepts the unit, the rules and the Grafana dashboard name only metrics a running
// walden exports, and promtool's rule tests, fed with walden's real /metrics before and
// during an archive outage, fire exactly the alerts that outage should fire.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "pg/connection.h"
#include "server/http_server.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/s3_server.h"
#include "tests/support/walden_process.h"

namespace walden::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const std::string kDeploy = std::string(WALDEN_SOURCE_DIR) + "/deploy";
const std::string kRules = kDeploy + "/prometheus/walden.rules.yml";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandResult RunTool(std::vector<std::string> argv) {
  auto result = RunCommand({.argv = std::move(argv)}, 60s);
  EXPECT_TRUE(result) << (result ? "" : result.error().message);
  return result.value_or(CommandResult{-1, ""});
}

// One scrape of /metrics: value per series ("name{labels}") and type per metric name.
struct Scrape {
  std::chrono::steady_clock::time_point at;
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;

  double Get(const std::string& series) const {
    auto it = values.find(series);
    return it == values.end() ? -1 : it->second;
  }
  // The metric name a series belongs to (histograms: without _bucket, _sum, _count).
  std::string MetricOf(const std::string& series) const {
    std::string name = series.substr(0, series.find('{'));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string base = name.substr(0, name.size() - std::string_view(suffix).size());
      if (name.ends_with(suffix) && types.contains(base)) return base;
    }
    return name;
  }
};

Scrape Parse(const std::string& text) {
  Scrape scrape{.at = std::chrono::steady_clock::now(), .values = {}, .types = {}};
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# TYPE ")) {
      const size_t space = line.find(' ', 7);
      scrape.types[line.substr(7, space - 7)] = line.substr(space + 1);
    } else if (!line.empty() && line[0] != '#') {
      const size_t space = line.rfind(' ');
      scrape.values[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  }
  return scrape;
}

// Every walden_* metric name a file mentions.
std::set<std::string> MetricNames(const std::string& text) {
  std::set<std::string> names;
  const std::regex name("walden_[a-z_]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    std::string found = it->str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (found.ends_with(suffix)) found.resize(found.size() - std::string_view(suffix).size());
    }
    names.insert(found);
  }
  return names;
}

// promtool input series continuing two real scrapes for `steps` minutes: counters,
// histograms and WAL positions move at the rate they moved between the scrapes; other
// gauges (ages, sizes, lags) keep moving that way only when `gauges_move` (an outage: the
// canary's age really grows a second per second), else they hold the last value.
std::string InputSeries(const Scrape& first, const Scrape& second, int steps, bool gauges_move) {
  const double seconds = std::chrono::duration<double>(second.at - first.at).count();
  std::string out =
      "      - series: 'up{instance=\"walden:9187\",job=\"walden\"}'\n"
      "        values: '1x" +
      std::to_string(steps) + "'\n";
  for (const auto& [series, value] : second.values) {
    const std::string metric = second.MetricOf(series);
    const std::string& type = second.types.at(metric);
    const bool moves = type != "gauge" || metric.ends_with("_lsn_bytes") || gauges_move;
    // A counter first seen in `second` (an error that began between the scrapes) rose from 0.
    const double before =
        first.Get(series) >= 0 ? first.Get(series) : (type == "counter" ? 0 : value);
    const double per_minute = moves ? (value - before) / seconds * 60 : 0;
    std::string labels = series.find('{') == std::string::npos
                             ? series + "{"
                             : series.substr(0, series.size() - 1) + ",";
    out += fmt::format(
        "      - series: '{}instance=\"walden:9187\",job=\"walden\"}}'\n"
        "        values: '{:.6f}{:+.6f}x{}'\n",
        labels, value, per_minute, steps);
  }
  return out;
}

class OpsKitTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::string Address() {
    std::ifstream file(dir() + "/data/server.json");
    return nlohmann::json::parse(file)["address"];
  }
  Scrape Metrics() {
    auto metrics = server::Get(Address(), "/metrics");
    EXPECT_TRUE(metrics);
    return Parse(metrics ? metrics->body : "");
  }
  // Scrapes until `done` holds for a scrape (60 s at most).
  Scrape ScrapeUntil(const std::function<bool(const Scrape&)>& done) {
    Scrape scrape;
    for (int i = 0; i < 600; ++i) {
      scrape = Metrics();
      if (done(scrape)) return scrape;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "condition not met in 60 s";
    return scrape;
  }
  // Runs promtool's rule tests in `tests` (YAML after `tests:`) against the rules.
  CommandResult PromtoolTest(const std::string& name, const std::string& tests) {
    const std::string file = dir() + "/" + name + ".test.yml";
    std::ofstream(file) << "rule_files:\n  - " << kRules << "\nevaluation_interval: 1m\ntests:\n"
                        << tests;
    return RunTool({"promtool", "test", "rules", file});
  }
};

TEST(OpsKit, PromtoolAcceptsTheRulesAndSystemdTheHardenedUnit) {
  const CommandResult rules = RunTool({"promtool", "check", "rules", kRules});
  EXPECT_EQ(rules.exit_code, 0) << rules.output;
  EXPECT_THAT(rules.output, HasSubstr("SUCCESS: 10 rules found"));
  // systemd checks the binary it names exists: point it at this build's.
  std::string unit = ReadFile(kDeploy + "/systemd/walden.service");
  unit = std::regex_replace(unit, std::regex("/usr/local/bin/walden"), WaldenBinary());
  const std::string dir = ::testing::TempDir() + "/ops_kit_unit";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/walden.service") << unit;
  const CommandResult verify = RunTool({"systemd-analyze", "verify", dir + "/walden.service"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_EQ(verify.output, "");
  // systemd's exposure score (0 best, 10 worst): "OK" up to 2.
  const CommandResult security = RunTool(
      {"systemd-analyze", "security", "--offline=true", "--threshold=20", dir + "/walden.service"});
  EXPECT_EQ(security.exit_code, 0) << security.output;
  EXPECT_THAT(security.output, HasSubstr("Overall exposure level for walden.service: 1."));
}

TEST_F(OpsKitTest, RulesAndDashboardNameOnlyMetricsWaldenExports) {
  std::filesystem::remove_all(dir());
  ASSERT_EQ(RunWalden({"topics", "init", "--source", AdminConninfo()}).exit_code, 0);
  Exec("SELECT walden.create_topic('orders', partitions => 2)");
  Exec("SELECT walden.create_group('orders', 'billing')");
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  WaldenProcess run({"run", "--server-listen", "127.0.0.1:0", "--source", AdminConninfo(),
                     "--data-dir", dir() + "/data", "--source-slot", "ops_slot",
                     "--source-status-interval", "1s"});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  Exec("INSERT INTO t VALUES (1)");
  const Scrape scrape = ScrapeUntil([](const Scrape& s) {
    return s.types.contains("walden_slot_lag_bytes") &&
           s.types.contains("walden_topic_group_lag") && s.types.contains("walden_canary_fresh");
  });
  for (const std::string& file : {kRules, kDeploy + "/grafana/walden-dashboard.json"}) {
    const std::set<std::string> names = MetricNames(ReadFile(file));
    EXPECT_GE(names.size(), 8u) << file;
    for (const std::string& name : names) {
      EXPECT_TRUE(scrape.types.contains(name)) << file << " names " << name;
    }
  }
  // The same status as tables for SQL (topics and groups included).
  const CommandResult groups =
      RunWalden({"query",
                 "SELECT t.topic, t.partitions, g.group_name, g.lag FROM "
                 "walden_status.topics t JOIN walden_status.groups g USING (topic)",
                 "--format", "csv", "--data-dir", dir() + "/data"});
  EXPECT_EQ(groups.exit_code, 0) << groups.output;
  EXPECT_EQ(groups.output, "topic,partitions,group_name,lag\norders,2,billing,0\n");
  const nlohmann::json dashboard =
      nlohmann::json::parse(ReadFile(kDeploy + "/grafana/walden-dashboard.json"));
  EXPECT_EQ(dashboard["uid"], "walden-overview");
  EXPECT_GE(dashboard["panels"].size(), 10u);
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("ops_slot");
}

// Real /metrics of a healthy walden fire nothing; real /metrics while the archive's bucket
// is down fire "confirmed LSN stuck", "archive not committing" and "sink errors" for the
// archive, and nothing about the mirror.
TEST_F(OpsKitTest, PromtoolRuleTestsOnWaldensRealMetricsFireTheOutagesAlerts) {
  std::filesystem::remove_all(dir());
  auto s3 = S3Server::Start("walden-ops");
  ASSERT_TRUE(s3) << s3.error().message;
  Exec("CREATE TABLE t (id int PRIMARY KEY)");
  WaldenProcess run(
      {"run", "--server-listen", "127.0.0.1:0", "--source", AdminConninfo(), "--data-dir",
       dir() + "/data", "--source-slot", "ops_slot", "--archive-url", "s3://walden-ops/a",
       "--archive-endpoint", (*s3)->endpoint(), "--archive-flush-interval", "500ms",
       "--canary-interval", "1s", "--source-status-interval", "1s"},
      {{"AWS_ACCESS_KEY_ID", S3Server::kAccessKey},
       {"AWS_SECRET_ACCESS_KEY", S3Server::kSecretKey}});
  ASSERT_TRUE(run.WaitForLog("run: streaming slot", 30s)) << run.Stderr();
  // A source that keeps committing, as production does: 50 rows a second.
  std::atomic<bool> stop_writing{false};
  std::thread writer([&] {
    auto conn = pg::Connection::Open(AdminConninfo());
    ASSERT_TRUE(conn) << conn.error().message;
    for (int id = 1; !stop_writing; ++id) {
      ASSERT_TRUE(conn->Exec(fmt::format("INSERT INTO t VALUES ({})", id)));
      std::this_thread::sleep_for(20ms);
    }
  });
  const auto commits = [](const Scrape& s) { return s.Get("walden_archive_commits_total"); };
  const Scrape healthy1 = ScrapeUntil([&](const Scrape& s) { return commits(s) >= 2; });
  const Scrape healthy2 = ScrapeUntil([&](const Scrape& s) {
    return commits(s) >= commits(healthy1) + 2 &&
           s.Get("walden_confirmed_lsn_bytes") > healthy1.Get("walden_confirmed_lsn_bytes");
  });
  (*s3)->Stop();
  const auto archive_errors = [](const Scrape& s) {
    double sum = 0;
    for (const auto& [series, value] : s.values) {
      if (series.starts_with("walden_errors_total{where=\"archive")) sum += value;
    }
    return sum;
  };
  const Scrape outage1 = ScrapeUntil([&](const Scrape& s) { return archive_errors(s) >= 1; });
  const Scrape outage2 = ScrapeUntil([&](const Scrape& s) {
    return archive_errors(s) > archive_errors(outage1) &&
           s.Get("walden_received_lsn_bytes") > outage1.Get("walden_received_lsn_bytes");
  });
  EXPECT_EQ(outage2.Get("walden_confirmed_lsn_bytes"), outage1.Get("walden_confirmed_lsn_bytes"));
  EXPECT_EQ(commits(outage2), commits(outage1));

  std::string tests = "  - interval: 1m\n    input_series:\n" +
                      InputSeries(healthy1, healthy2, 60, false) + "    alert_rule_test:\n";
  for (const char* alert :
       {"WaldenDown", "WaldenSlotLagHigh", "WaldenConfirmedLsnStuck", "WaldenCommitToMirrorSlow",
        "WaldenCanaryStale", "WaldenArchiveNotCommitting", "WaldenSinkErrors",
        "WaldenTableNeedsResnapshot", "WaldenTopicGroupLagging", "WaldenVerifyFoundDifferences"}) {
    tests += fmt::format("      - eval_time: 40m\n        alertname: {}\n        exp_alerts: []\n",
                         alert);
  }
  const CommandResult quiet = PromtoolTest("healthy", tests);
  EXPECT_EQ(quiet.exit_code, 0) << quiet.output << tests;

  std::string expected_errors;
  for (const auto& [series, value] : outage2.values) {
    if (!series.starts_with("walden_errors_total{") || value <= outage1.Get(series)) continue;
    const std::smatch where = [&] {
      std::smatch m;
      std::regex_search(series, m, std::regex(R"(where="([^"]*)\",kind="([^"]*)\")"));
      return m;
    }();
    ASSERT_EQ(where.size(), 3u) << series;
    EXPECT_TRUE(where[1].str().starts_with("archive_")) << "only the archive fails: " << series;
    expected_errors += fmt::format(
        "          - exp_labels: {{severity: warning, instance: 'walden:9187', where: {}, kind: "
        "{}}}\n            exp_annotations:\n              summary: '{} on walden:9187 keeps "
        "failing ({})'\n              action: \"the log's ERROR lines for {}; walden doctor\"\n",
        where[1].str(), where[2].str(), where[1].str(), where[2].str(), where[1].str());
  }
  ASSERT_FALSE(expected_errors.empty());
  tests = "  - interval: 1m\n    input_series:\n" + InputSeries(outage1, outage2, 60, true) +
          "    alert_rule_test:\n"
          "      - eval_time: 40m\n        alertname: WaldenConfirmedLsnStuck\n"
          "        exp_alerts:\n"
          "          - exp_labels: {severity: critical, instance: 'walden:9187', job: walden}\n"
          "            exp_annotations:\n"
          "              summary: 'walden on walden:9187 has confirmed nothing for 20 minutes'\n"
          "              action: \"walden status (sink watermarks, errors); the log's last "
          "ERROR line\"\n"
          "      - eval_time: 40m\n        alertname: WaldenSinkErrors\n        exp_alerts:\n" +
          expected_errors +
          "      - eval_time: 40m\n        alertname: WaldenTableNeedsResnapshot\n"
          "        exp_alerts: []\n";
  const CommandResult firing = PromtoolTest("outage", tests);
  EXPECT_EQ(firing.exit_code, 0) << firing.output << tests;
  EXPECT_THAT(firing.output, HasSubstr("SUCCESS"));

  stop_writing = true;
  writer.join();
  ASSERT_TRUE((*s3)->Restart());
  run.process().Signal(SIGTERM);
  EXPECT_EQ(run.Wait(30s), 0) << run.Stderr();
  DropSlot("ops_slot");
}

}  // namespace
}  // namespace walden::testing
