// The fixture of the mirror's end-to-end tests (mirror_run_test, ddl_kill_test): `walden
// run` with a fast apply interval on the test database, kill loops, and the row-for-row
// comparison of every mirror table with its source. Thread-safety: one test at a time.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/duck_reader.h"
#include "tests/support/mirror_compare.h"
#include "tests/support/pg_fixture.h"
#include "tests/support/walden_process.h"

namespace walden::testing {

using namespace std::chrono_literals;

// WALDEN_SEED, else a fixed seed: a failure repeats with the seed it prints.
inline uint32_t Seed() {
  const char* env = std::getenv("WALDEN_SEED");
  return env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20261121;
}

// Kills per kill test: WALDEN_CRASH_ITERATIONS (make soak), else 10.
inline int Iterations() {
  const char* env = std::getenv("WALDEN_CRASH_ITERATIONS");
  return env ? std::max(1, std::atoi(env)) : 10;
}

class MirrorTest : public PgTest {
 protected:
  std::string dir() const { return ScratchDir(); }
  std::string mirror() const { return dir() + "/data/mirror.duckdb"; }
  std::vector<std::string> RunArgs(const std::string& apply_interval = "100ms") {
    return {"run",
            "--server-listen",
            "127.0.0.1:0",
            "--source",
            AdminConninfo(),
            "--data-dir",
            dir() + "/data",
            "--mirror-export-dir",
            dir() + "/exports",
            "--archive-flush-interval",
            "300ms",
            "--mirror-apply-interval",
            apply_interval,
            "--source-slot",
            "mirror_slot",
            "--source-status-interval",
            "200ms"};
  }
  // Starts walden once so the slot exists before the workload.
  void CreateSlot() {
    WaldenProcess first(RunArgs());
    ASSERT_TRUE(first.WaitForLog("run: streaming slot", 30s)) << first.Stderr();
    first.process().Signal(SIGTERM);
    ASSERT_EQ(first.Wait(30s), 0) << first.Stderr();
  }
  // Waits until walden confirmed everything committed so far, then stops it cleanly.
  void CatchUpAndStop(WaldenProcess& run) {
    ASSERT_TRUE(WaitForCaughtUp("mirror_slot", 60s)) << run.Stderr();
    run.process().Signal(SIGTERM);
    ASSERT_EQ(run.Wait(60s), 0) << run.Stderr();
  }
  // Iterations() times: start `walden run` with args(), let it stream for `min` plus up to
  // `spread` more, kill -9 it.
  static void KillNineRepeatedly(std::mt19937& random,
                                 const std::function<std::vector<std::string>()>& args,
                                 std::chrono::milliseconds min, std::chrono::milliseconds spread,
                                 const std::vector<std::pair<std::string, std::string>>& env = {}) {
    for (int i = 0; i < Iterations(); ++i) {
      WaldenProcess run(args(), env);
      ASSERT_TRUE(run.WaitForLog("run: streaming slot", 60s)) << run.Stderr();
      std::this_thread::sleep_for(min + std::chrono::milliseconds(random() % spread.count()));
      run.process().Signal(SIGKILL);
      EXPECT_EQ(run.Wait(30s), 128 + SIGKILL);
    }
  }
  void ExpectMirrorEqualsSource(const std::vector<QualifiedName>& tables) {
    for (const QualifiedName& table : tables) {
      EXPECT_EQ(MirrorDiff(AdminConninfo(), mirror(), table), "") << "seed " << Seed();
    }
  }
};

}  // namespace walden::testing
