# Thin wrappers over scripts/; see README.md.
.PHONY: demo demo-fleet test build clean fuzz soak bench bench-quick bench-capture bench-storage bench-mirror bench-snapshot

demo:
	scripts/demo.sh $(DEMO_ARGS)

# ~500 aircraft into a topic at 1,000 positions/s; open the printed console address.
demo-fleet:
	scripts/demo.sh --fleet $(DEMO_ARGS)

test:
	scripts/test.sh

build:
	scripts/setup.sh
	cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Debug
	cmake --build build/dev

clean:
	rm -rf build

# kill -9 soak (not in `make test`): the kill tests with many more kills on 17 and 15.
soak:
	scripts/soak.sh

# Each libFuzzer target (wire decoder, connection-string redactor) for 10 minutes.
fuzz:
	scripts/setup.sh
	WALDEN_FUZZ_SECONDS=$${WALDEN_FUZZ_SECONDS:-600} scripts/fuzz.sh

# Every end-to-end scenario beside its reference; rewrites docs/benchmarks.md and .png.
bench:
	scripts/setup.sh
	bench/run.sh full

# The same scenarios at tiny sizes (CI proves the scripts work); output in build/bench-quick.
bench-quick:
	scripts/setup.sh
	bench/run.sh quick

# Decode + assembly throughput beside pg_recvlogical (see docs/benchmarks.md).
bench-capture:
	scripts/setup.sh
	cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALDEN_BUILD_TESTS=ON
	cmake --build build/bench --target capture_bench
	build/bench/bench/capture_bench --changes=1000000 --benchmark_min_time=2

# Archive bytes per change versus PostgreSQL bytes per row (see docs/benchmarks.md).
bench-storage:
	scripts/setup.sh
	cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALDEN_BUILD_TESTS=ON
	cmake --build build/bench --target storage_bench
	build/bench/bench/storage_bench --rows=1000000

# Merge throughput by op mix beside DuckDB's appender; commit→mirror latency at 5,000
# changes/s beside commit→received (see docs/benchmarks.md).
bench-mirror:
	scripts/setup.sh
	cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALDEN_BUILD_TESTS=ON
	cmake --build build/bench --target mirror_bench
	build/bench/bench/mirror_bench --changes=1000000 --batch=5000 --rate=5000 --seconds=60

# Initial-load rows/s beside COPY ... TO STDOUT of the same table (see docs/benchmarks.md).
bench-snapshot:
	scripts/setup.sh
	cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DWALDEN_BUILD_TESTS=ON
	cmake --build build/bench --target snapshot_bench
	build/bench/bench/snapshot_bench --rows=1000000 --workers=2
