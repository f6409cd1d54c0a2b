#!/usr/bin/env bash
# `make bench` / `make bench-quick`: every end-to-end scenario with its reference in the same
# run, then the report. The full run rewrites the generated part of docs/benchmarks.md and
# docs/benchmarks.png; the quick run (CI, under 3 minutes) writes to build/bench-quick/ and
# only proves the scripts work. Figures are never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-full}
# BENCH_BUILD_DIR: an existing build to use as it is (the test suite's); default: a Release build.
build=${BENCH_BUILD_DIR:-build/bench}
case $mode in
  full)
    out=docs
    pipeline_args=(--changes=2000000 --rates=1000,5000,20000 --seconds=60 --big-txn=5000000
      --flush-intervals=1s,10s)
    snapshot_args=(--rows=1000000 --workers=2)
    storage_args=(--rows=1000000)
    topics_args=(--messages=400000)
    history_args=(--days=30 --files=1440 --rows=2000)
    feed_args=(--rate=1000 --seconds=30 --clients=50)
    ;;
  quick)
    out=build/bench-quick
    pipeline_args=(--changes=100000 --rates=1000,5000 --seconds=5 --big-txn=100000)
    snapshot_args=(--rows=50000 --workers=2 --chunk-rows=10000)
    storage_args=(--rows=20000)
    topics_args=(--messages=20000)
    history_args=(--days=2 --files=50 --rows=200)
    feed_args=(--rate=1000 --seconds=3 --clients=10)
    ;;
  *)
    echo "usage: bench/run.sh [full|quick]" >&2
    exit 2
    ;;
esac

[[ -n ${BENCH_BUILD_DIR:-} ]] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALDEN_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target walden pipeline_bench snapshot_bench storage_bench topics_bench history_bench feed_bench >/dev/null
mkdir -p "$out"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

echo "== pipeline: throughput, replay, latency, big transaction (${pipeline_args[*]})"
"$build/bench/pipeline_bench" "${pipeline_args[@]}" --json="$results"
echo "== snapshot (${snapshot_args[*]})"
"$build/bench/snapshot_bench" "${snapshot_args[@]}" --json="$results"
echo "== storage (${storage_args[*]})"
"$build/bench/storage_bench" "${storage_args[@]}" --json="$results"
echo "== topics and queues (${topics_args[*]})"
"$build/bench/topics_bench" "${topics_args[@]}" --json="$results"
echo "== history queries over a generated archive (${history_args[*]})"
"$build/bench/history_bench" "${history_args[@]}" --json="$results"
echo "== live feeds: commit -> event, CPU with clients (${feed_args[*]})"
"$build/bench/feed_bench" "${feed_args[@]}" --json="$results"

bench/report.sh "$results" "$out" "make bench$([[ $mode == quick ]] && echo -quick)"
