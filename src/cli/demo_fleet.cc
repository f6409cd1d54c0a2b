#include "cli/demo_fleet.h"

#include <fmt/core.h>

#include <cmath>
#include <random>
#include <vector>

#include "topics/schema.h"

namespace walden::cli::demo {
namespace {

// The continental US, roughly; aircraft turn back at its edges.
constexpr double kSouth = 25.5, kNorth = 48.5, kWest = -124.0, kEast = -67.5;
// Time-lapse: a second of the demo is a minute of flight, so movement shows on the map.
constexpr double kTimeLapse = 60.0;
constexpr double kPi = 3.14159265358979323846;

struct Aircraft {
  std::string registration;
  double lat = 0, lon = 0, heading = 0;  // degrees; heading clockwise from north
  double knots = 0;
  int altitude = 0;  // feet
};

std::vector<Aircraft> Fleet(int count, std::mt19937& random) {
  std::uniform_real_distribution<double> lat(kSouth + 1, kNorth - 1), lon(kWest + 2, kEast - 2),
      heading(0, 360), knots(380, 520);
  std::vector<Aircraft> fleet;
  for (int i = 0; i < count; ++i) {
    fleet.push_back({.registration = fmt::format("N{}{}", 100 + i, static_cast<char>('A' + i % 26)),
                     .lat = lat(random),
                     .lon = lon(random),
                     .heading = heading(random),
                     .knots = knots(random),
                     .altitude = 28000 + static_cast<int>(random() % 12) * 1000});
  }
  return fleet;
}

void Fly(Aircraft& plane, double seconds) {
  const double nautical_miles = plane.knots * seconds * kTimeLapse / 3600.0;
  const double radians = plane.heading * kPi / 180.0;
  plane.lat += nautical_miles / 60.0 * std::cos(radians);
  plane.lon += nautical_miles / 60.0 * std::sin(radians) / std::cos(plane.lat * kPi / 180.0);
  if (plane.lat < kSouth || plane.lat > kNorth) plane.heading = std::fmod(540 - plane.heading, 360);
  if (plane.lon < kWest || plane.lon > kEast) plane.heading = 360 - plane.heading;
  plane.lat = std::clamp(plane.lat, kSouth, kNorth);
  plane.lon = std::clamp(plane.lon, kWest, kEast);
}

}  // namespace

Status CreateFleetTopic(pg::Connection& conn) {
  auto installed = topics::Install(conn);
  if (!installed) return std::unexpected(installed.error());
  auto exists = conn.QueryValue(
      fmt::format("SELECT count(*) FROM walden.topics WHERE topic = '{}'", kFleetTopic));
  if (!exists) return std::unexpected(exists.error());
  if (*exists != "0") return {};
  auto made = conn.Exec(fmt::format(
      "SELECT walden.create_topic('{}', partitions => 4, retention => '1 day')", kFleetTopic));
  if (!made) return std::unexpected(made.error());
  return {};
}

Result<std::unique_ptr<FleetGenerator>> FleetGenerator::Start(const FleetOptions& options) {
  std::unique_ptr<FleetGenerator> generator(new FleetGenerator());
  generator->options_ = options;
  generator->thread_ = std::thread([g = generator.get()] { g->Run(); });
  return generator;
}

void FleetGenerator::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string FleetGenerator::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

// Every 50 ms the next aircraft in turn report where they are now: rate / 20 positions in one
// produce call (one transaction).
void FleetGenerator::Run() {
  auto conn = pg::Connection::Open(options_.conninfo);
  if (!conn) {
    std::lock_guard lock(mutex_);
    last_error_ = conn.error().message;
  }
  std::mt19937 random(20261202);
  std::vector<Aircraft> fleet = Fleet(options_.aircraft, random);
  const auto tick = std::chrono::milliseconds(50);
  const int per_tick = std::max(1, options_.rate / 20);
  const auto started = std::chrono::steady_clock::now();
  auto next = started;
  size_t turn = 0;
  while (conn && !stop_ && std::chrono::steady_clock::now() - started < options_.duration) {
    for (Aircraft& plane : fleet) Fly(plane, 0.05);
    std::string values = "[", keys = "{";
    for (int i = 0; i < per_tick; ++i, turn = (turn + 1) % fleet.size()) {
      const Aircraft& plane = fleet[turn];
      values += fmt::format(
          "{}{{\"lat\":{:.5f},\"lon\":{:.5f},\"heading\":{:.0f},\"knots\":{:.0f},\"alt\":{}}}",
          i ? "," : "", plane.lat, plane.lon, plane.heading, plane.knots, plane.altitude);
      keys += (i ? "," : "") + plane.registration;
    }
    const std::optional<std::string> params[] = {values + "]", keys + "}"};
    auto produced = conn->ExecParams(
        fmt::format("SELECT count(*) FROM walden.produce('{}', (SELECT array_agg(v ORDER BY o) "
                    "FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, o)), $2::text[])",
                    kFleetTopic),
        params);
    if (produced) {
      produced_ += static_cast<uint64_t>(per_tick);
    } else {
      std::lock_guard lock(mutex_);
      last_error_ = produced.error().message;
    }
    next += tick;
    std::this_thread::sleep_until(next);
  }
  finished_ = true;
}

}  // namespace walden::cli::demo
