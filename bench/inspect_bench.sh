#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ivshm-inspect on a full region (1 GiB by default): how fast verify and
# info go through it, in GB/s of region (target: at least 1 GB/s).
#
# The region is created in /dev/shm and filled through the file system
# (core/fs.h) by ivshm-bench-inspect-fill to 85% live data, twice:
#   mixed   files of 4 KiB to 4 MiB, some overwritten, some deleted (the
#           cleaner and checkpoints run as in real use): a short log
#   small   4 KiB files only: a long log (every file is 5 records)
# Each command runs RUNS times on each; the best and the median wall time
# and CPU time (user + system: what the figure is on an idle machine) are
# printed, with the region's bytes per second and, since verify and info
# read metadata only (file data is not checksummed, docs/DESIGN.md), the
# bytes of checkpoint and log they replayed per second. "uptime" before and
# after says how busy the machine was.
#
#   bench/inspect_bench.sh [-b BUILD_DIR] [-s SIZE] [-r RUNS] [-k]
#
#   -b DIR   build directory (default build-bench; configured as Release
#            if it does not exist yet)
#   -s SIZE  region size (default 1G)
#   -r RUNS  runs per command (default 5)
#   -k       keep the regions (/dev/shm/ivshm-bench-inspect-*)
#
# Prints one "RESULT" line per fill and command for scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-bench
size=1G
runs=5
keep=0
while getopts "b:s:r:kh" o; do
	case $o in
	b) build=$OPTARG ;;
	s) size=$OPTARG ;;
	r) runs=$OPTARG ;;
	k) keep=1 ;;
	h) sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [-b BUILD_DIR] [-s SIZE] [-r RUNS] [-k]" >&2
	   exit 2 ;;
	esac
done

if [[ ! -f $build/CMakeCache.txt ]]; then
	cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target ivshm-inspect \
	ivshm-bench-inspect-fill >/dev/null
inspect=$build/bin/ivshm-inspect
fill=$build/bin/ivshm-bench-inspect-fill

regions=()
cleanup() {
	if [[ $keep == 0 ]]; then
		for r in "${regions[@]}"; do rm -f "$r"; done
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

now_ns() { date +%s%N; }

# Median and best of the numbers on stdin (nanoseconds).
stats() { sort -n | awk '{ v[NR] = $1 } END {
	printf "%.0f %.0f\n", v[1], v[int((NR + 1) / 2)] }'; }

json_get() { python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[k]
print(d)' "$1"; }

echo "load before: $(uptime)"
for mix in mixed small; do
	region=/dev/shm/ivshm-bench-inspect-$$-$mix
	regions+=("$region")
	args=()
	[[ $mix == small ]] && args=(-z 4K)
	echo "== $mix: filling a $size region through the file system"
	"$fill" "${args[@]}" -f 85 "$region" "$size"
	info=$("$inspect" --json "$region" info)
	bytes=$(json_get geometry.region_size <<<"$info")
	logb=$(( $(json_get records.log.bytes <<<"$info") +
		 $(json_get records.checkpoint.bytes <<<"$info") ))
	recs=$(( $(json_get records.log.records <<<"$info") +
		 $(json_get records.checkpoint.records <<<"$info") ))
	echo "   $(json_get namespace.files <<<"$info") files," \
	     "$(json_get space.live_data <<<"$info") bytes live," \
	     "$recs records ($logb bytes) to replay"
	"$inspect" "$region" verify >/dev/null || {
		echo "verify failed on the filled region" >&2
		exit 1
	}
	for cmd in verify info; do
		walls=() cpus=()
		for _ in $(seq "$runs"); do
			TIMEFORMAT='%R %U %S'
			t=$({ time "$inspect" -q "$region" "$cmd" >/dev/null \
				2>&1; } 2>&1)
			read -r wall user sys <<<"$t"
			walls+=("$(awk -v w="$wall" 'BEGIN { print int(w * 1e9) }')")
			cpus+=("$(awk -v u="$user" -v s="$sys" \
				'BEGIN { print int((u + s) * 1e9) }')")
		done
		read -r best median < <(printf '%s\n' "${walls[@]}" | stats)
		read -r cbest cmedian < <(printf '%s\n' "${cpus[@]}" | stats)
		awk -v c="$cmd" -v m="$mix" -v b="$best" -v md="$median" \
		    -v cb="$cbest" -v cm="$cmedian" -v size="$bytes" \
		    -v lb="$logb" -v rec="$recs" 'BEGIN {
			printf "   %-6s wall: best %7.1f ms, median %7.1f ms = " \
			       "%6.2f GB/s of region (%5.0f MB/s of records)\n",
			       c, b / 1e6, md / 1e6, size / md, lb * 1e3 / md
			printf "   %-6s cpu:  best %7.1f ms, median %7.1f ms = " \
			       "%6.2f GB/s of region\n", "", cb / 1e6,
			       cm / 1e6, size / cm
			printf "RESULT fill=%s cmd=%s region_bytes=%d " \
			       "records=%d record_bytes=%d wall_best_ms=%.2f " \
			       "wall_median_ms=%.2f cpu_median_ms=%.2f " \
			       "region_gbps_wall=%.2f region_gbps_cpu=%.2f\n",
			       m, c, size, rec, lb, b / 1e6, md / 1e6, cm / 1e6,
			       size / md, size / cm
		}'
	done
done
echo "load after: $(uptime)"
