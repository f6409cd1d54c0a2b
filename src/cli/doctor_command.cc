#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/redact.h"
#include "pg/doctor.h"

namespace walden::cli {
namespace {

void PrintHuman(const pg::DoctorReport& report) {
  fmt::print("walden doctor: {} ({})\n\n", report.target, report.server_version);
  for (const pg::Finding& finding : report.findings) {
    const std::string severity = finding.severity == pg::Severity::kBlocking
                                     ? "BLOCKING"
                                     : std::string(pg::SeverityName(finding.severity));
    fmt::print("  {:<9} {:<24} {}\n", severity, finding.check, finding.message);
    if (!finding.fix.empty()) fmt::print("  {:<9} {:<24} fix: {}\n", "", "", finding.fix);
  }
  const int blocking = report.Count(pg::Severity::kBlocking);
  const int warnings = report.Count(pg::Severity::kWarning);
  fmt::print("\n{}: {} blocking problem{}, {} warning{}.{}\n",
             report.Ready() ? "ready" : "not ready", blocking, blocking == 1 ? "" : "s", warnings,
             warnings == 1 ? "" : "s",
             report.Ready() ? "" : " Apply the fixes above and run walden doctor again.");
}

void PrintJson(const pg::DoctorReport& report) {
  nlohmann::json findings = nlohmann::json::array();
  for (const pg::Finding& finding : report.findings) {
    findings.push_back({{"check", finding.check},
                        {"severity", pg::SeverityName(finding.severity)},
                        {"message", finding.message},
                        {"fix", finding.fix}});
  }
  const nlohmann::json out = {{"source", report.target},
                              {"server_version", report.server_version},
                              {"ready", report.Ready()},
                              {"findings", findings}};
  fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

int DoctorCommand(const Config& config, bool json) {
  if (config.source.url.empty()) {
    return ReportError({ErrorKind::kUsage,
                        "doctor: no source database; pass --source URL, set WALDEN_SOURCE_URL "
                        "or source.url in walden.toml"});
  }
  auto report = pg::RunDoctor({.conninfo = config.source.url,
                               .slot = config.source.slot,
                               .publication = config.source.publication,
                               .tables = config.source.tables});
  if (!report) {
    if (json) {
      const nlohmann::json out = {{"source", RedactConninfo(config.source.url)},
                                  {"ready", false},
                                  {"error", report.error().message}};
      fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return ReportError(report.error());
  }
  json ? PrintJson(*report) : PrintHuman(*report);
  return report->Ready() ? 0 : 1;
}

}  // namespace walden::cli
