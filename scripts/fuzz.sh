#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time
# (default 60 s; WALDEN_FUZZ_SECONDS overrides). Findings are written to build/fuzz/findings.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${WALDEN_FUZZ_SECONDS:-60}
build=build/fuzz
# libstdc++ 12 hides std::expected from clang, which reports an older __cpp_concepts
# although clang 16 implements what <expected> needs (see docs/architecture.md).
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
flags="$flags -Wno-macro-redefined -D__cpp_concepts=202002L"
CC=clang-16 CXX=clang++-16 cmake -S . -B "$build" -G Ninja -DWALDEN_FUZZ=ON \
  -DWALDEN_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" --target pgoutput_fuzz redact_fuzz parquet_footer_fuzz
mkdir -p "$build/findings" "$build/corpus/pgoutput" "$build/corpus/redact" \
  "$build/corpus/parquet_footer"
cp -n fuzz/corpus/pgoutput/* "$build/corpus/pgoutput/"
cp -n fuzz/corpus/redact/* "$build/corpus/redact/"
cp -n fuzz/corpus/parquet_footer/* "$build/corpus/parquet_footer/"
for target in pgoutput redact parquet_footer; do
  echo "== fuzz ${target}_fuzz for ${seconds}s =="
  "$build/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -artifact_prefix="$build/findings/" -print_final_stats=1 "$build/corpus/$target" \
    2>"$build/${target}_fuzz.log" || { tail -50 "$build/${target}_fuzz.log"; exit 1; }
  grep -E '^stat::number_of_executed_units|^Done' "$build/${target}_fuzz.log" || true
done
