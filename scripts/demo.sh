#!/usr/bin/env bash
# The demo command (README, `make demo`): installs what is missing, builds, runs `walden demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${WALDEN_BUILD_DIR:-build/release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALDEN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target walden
exec "$build/src/cli/walden" demo "$@"
