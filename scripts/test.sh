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
echo "== all tests passed"
