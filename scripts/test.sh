#!/usr/bin/env bash
# Set up and pass every test: dependencies, a normal build and an
# ASan+UBSan build, each running the whole CTest suite.
# IVSHM_SLOW_TESTS=1 adds the long soak and fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc)
slow=${IVSHM_SLOW_TESTS:-0}
run_suite() {
	local dir=$1
	shift
	cmake -S . -B "$dir" -DIVSHM_SLOW_TESTS="$slow" "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
	ctest --test-dir "$dir" --output-on-failure -j"$jobs"
}

echo "== build and test (RelWithDebInfo)"
run_suite build
echo "== build and test (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DIVSHM_SANITIZE=ON
echo "== fuzz the region parser (libFuzzer, clang)"
fuzz_secs=${IVSHM_FUZZ_SECONDS:-30}
[[ $slow == 1 ]] && fuzz_secs=${IVSHM_FUZZ_SECONDS:-600}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug \
	-DIVSHM_SANITIZE=ON -DIVSHM_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_region
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
./build-fuzz/bin/fuzz_region -max_total_time="$fuzz_secs" -max_len=512 \
	-rss_limit_mb=4096 -artifact_prefix="$work/" "$work" 2>&1 |
	grep -v '^ivshm:' | tail -3
echo "== all tests passed"
