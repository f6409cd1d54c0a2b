#include "pipeline/snapshot_control.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <sstream>

#include "snapshot/source.h"
#include "topics/schema.h"

namespace walden::pipeline {

using Clock = std::chrono::steady_clock;

std::string SnapshotControl::Queue(const std::string& body) {
  std::vector<TableSelector> selectors;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line == "*") continue;
    auto selector = ParseTableSelector(line);
    if (!selector) return selector.error().message + "\n";
    selectors.push_back(std::move(*selector));
  }
  return Submit({.selectors = std::move(selectors)});
}

std::string SnapshotControl::QueueKeys(KeyRepairs repairs) {
  return Submit({.keys = std::move(repairs)});
}

std::string SnapshotControl::Submit(Request request) {
  if (config_.snapshot.mode == SnapshotMode::kNever) {
    return "snapshot.mode = never: this walden takes no snapshots; set snapshot.mode = online\n";
  }
  std::future<Result<std::string>> job;
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
    job = requests_.back().job.get_future();
  }
  // The run loop takes requests between rounds (well under a second).
  if (job.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return "walden did not take the request within 30 s; see its log\n";
  }
  try {
    Result<std::string> taken = job.get();
    return (taken ? "job " + *taken : taken.error().message) + "\n";
  } catch (const std::future_error&) {
    return "walden stopped before taking the request\n";
  }
}

Status SnapshotControl::Take(Request& request, const std::vector<QualifiedName>& published) {
  for (auto& [table, keys] : request.keys) {
    if (std::ranges::find(published, table) == published.end()) {
      request.job.set_value(Fail(
          ErrorKind::kNotFound,
          table.Display() + " is not captured (publication " + config_.source.publication + ")"));
      return {};
    }
    if (auto ok = engine_->RequestKeys(table, std::move(keys), "verify repair"); !ok) return ok;
  }
  if (!request.keys.empty()) {
    request.job.set_value(engine_->progress().job);
    return {};
  }
  std::vector<QualifiedName> tables;
  for (const QualifiedName& name : published) {
    if (request.selectors.empty() ||
        std::ranges::any_of(request.selectors,
                            [&](const TableSelector& s) { return s.Matches(name); })) {
      tables.push_back(name);
    }
  }
  // A typo must not report a snapshot that never happens.
  auto missing = std::ranges::find_if(request.selectors, [&](const TableSelector& s) {
    return std::ranges::none_of(tables, [&](const QualifiedName& n) { return s.Matches(n); });
  });
  if (missing != request.selectors.end()) {
    request.job.set_value(Fail(
        ErrorKind::kNotFound,
        missing->Display() + " is not captured (publication " + config_.source.publication + ")"));
    return {};
  }
  if (auto ok = engine_->Request(tables, "requested"); !ok) return ok;
  request.job.set_value(engine_->progress().job);
  return {};
}

Status SnapshotControl::Step(const mirror::Mirror& mirror, Lsn durable) {
  if (config_.snapshot.mode == SnapshotMode::kNever) return {};
  std::vector<Request> requests;
  {
    std::lock_guard lock(mutex_);
    requests.swap(requests_);
  }
  const bool scan = Clock::now() - last_scan_ > std::chrono::seconds(1);
  if (!requests.empty() || scan || everything_) {
    last_scan_ = Clock::now();
    if (!catalog_) {
      auto conn = pg::Connection::Open(config_.source.url, pg::LoopConnectOptions(stop_));
      if (!conn) return std::unexpected(conn.error());
      catalog_ = std::make_unique<pg::Connection>(std::move(*conn));
    }
    auto publications = topics::CapturedPublications(*catalog_, config_.source.publication);
    auto published =
        publications ? snapshot::PublishedTables(*catalog_, *publications)
                     : Result<std::vector<QualifiedName>>(std::unexpected(publications.error()));
    if (!published) {
      catalog_.reset();  // a fresh connection next time
      return std::unexpected(published.error());
    }
    {
      std::lock_guard lock(mutex_);
      published_ = {published->begin(), published->end()};
      scanned_ = true;
    }
    for (Request& request : requests) {
      if (auto ok = Take(request, *published); !ok) return ok;
    }
    if (everything_) {
      everything_ = false;
      if (auto ok = engine_->Request(*published, "first start"); !ok) return ok;
    }
    // Tables the mirror stopped following, and captured tables it has never seen.
    std::set<QualifiedName> mirrored;
    std::vector<QualifiedName> due;
    for (const mirror::TableStatus& table : mirror.Tables()) {
      mirrored.insert(table.def.name);
      // Again when a snapshot that began before the table stopped ended without mending it
      // (it read rows of the old shape), but not without end.
      if (table.state != mirror::kStateResync || engine_->Queued(table.def.name)) continue;
      const int asked = ++resync_requests_[table.def.name];
      if (asked <= kMaxAutomaticSnapshots) {
        due.push_back(table.def.name);
      } else if (asked == kMaxAutomaticSnapshots + 1) {
        spdlog::error(
            "snapshot: {} still needs a snapshot after {} automatic ones; see the mirror's "
            "error above, then run `walden snapshot --table {}`",
            table.def.name.Display(), kMaxAutomaticSnapshots, table.def.name.Display());
      }
    }
    for (const QualifiedName& name : *published) {
      if (!mirrored.contains(name) && auto_requested_.insert(name).second) due.push_back(name);
    }
    std::erase_if(due, [&](const QualifiedName& name) { return engine_->Queued(name); });
    if (!due.empty()) {
      if (auto ok = engine_->Request(due, "rewritten or new"); !ok) return ok;
    }
  }
  if (auto ok = engine_->Durable(durable); !ok) return ok;
  return engine_->Tick();
}

}  // namespace walden::pipeline
