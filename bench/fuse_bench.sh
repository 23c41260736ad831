#!/usr/bin/env bash
# ivshm-fuse beside tmpfs and libfuse's passthrough_ll, in one run.
#
#   bench/fuse_bench.sh [-q] [-B BUILD_DIR] [-- ivshm-bench-fuse flags]
#
# Builds Debian's passthrough_ll example (libfuse3-dev) into a temporary
# directory, then runs BUILD_DIR/bin/ivshm-bench-fuse, which mounts
# everything, measures and prints the table (see bench/README.md). Run as
# root. Whatever is left mounted under the temporary directory is
# detached on exit, and the regions of the run are removed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${IVSHM_BUILD:-$here/../build-bench}
flags=()

usage() {
	sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	echo "  -q  quick run (under a minute);  -B  build directory"
	echo "      (default \$IVSHM_BUILD or build-bench)"
}

while (($#)); do
	case $1 in
	-q) flags+=(-q) ;;
	-B)
		(($# >= 2)) || { usage >&2; exit 2; }
		build=$2
		shift
		;;
	-h | --help) usage; exit 0 ;;
	--) shift; flags+=("$@"); break ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

bench=$build/bin/ivshm-bench-fuse
for b in "$bench" "$build/bin/ivshm-fuse" "$build/bin/ivshm-server"; do
	if [[ ! -x $b ]]; then
		echo "fuse_bench: $b is missing; build it with" >&2
		echo "  cmake --build $build --target ivshm-bench-fuse" >&2
		exit 1
	fi
done
if ((EUID != 0)); then
	echo "fuse_bench: run as root (mounts, drop_caches)" >&2
	exit 1
fi

work=$(mktemp -d /tmp/ivshm-bench-fuse.XXXXXX)
bench_pid=

# shellcheck disable=SC2317  # reached through the traps
cleanup() {
	local rc=$? m
	trap - EXIT INT TERM HUP
	if [[ -n $bench_pid ]] && kill -0 "$bench_pid" 2>/dev/null; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	# Anything still mounted below $work (the program was killed):
	# deepest first, detached.
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts |
		sort -r)
	if [[ -n $bench_pid ]]; then
		rm -f "/dev/shm/ivshm-bench-fuse-$bench_pid" \
			"/dev/shm/ivshm-bench-fuse-$bench_pid-srv"
	fi
	# Only what this script put there; never recursive (no mount can
	# be below it any more, but be safe anyway).
	rm -f "$work"/passthrough_ll "$work"/passthrough_ll.c \
		"$work"/passthrough_helpers.h "$work"/cc.log "$work"/*.log \
		"$work"/server.pid "$work"/ivshm.sock
	find "$work" -mindepth 1 -maxdepth 1 -type d -empty -delete 2>/dev/null || true
	rmdir "$work" 2>/dev/null || echo "fuse_bench: $work left behind" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# passthrough_ll, built now from the installed example (maybe gzipped);
# its source never enters the repository.
ex=/usr/share/doc/libfuse3-dev/examples
for f in passthrough_ll.c passthrough_helpers.h; do
	if [[ -f $ex/$f ]]; then
		cp "$ex/$f" "$work/$f"
	elif [[ -f $ex/$f.gz ]]; then
		gzip -dc "$ex/$f.gz" >"$work/$f"
	else
		echo "fuse_bench: $ex/$f is missing (apt-get install" \
			"libfuse3-dev)" >&2
		exit 1
	fi
done
if ! pkg-config --exists fuse3; then
	echo "fuse_bench: pkg-config knows no fuse3 (apt-get install" \
		"libfuse3-dev)" >&2
	exit 1
fi
read -r -a fuse_flags < <(pkg-config --cflags --libs fuse3)
if ! gcc -O2 -o "$work/passthrough_ll" "$work/passthrough_ll.c" \
	"${fuse_flags[@]}" >"$work/cc.log" 2>&1; then
	cat "$work/cc.log" >&2
	echo "fuse_bench: cannot build passthrough_ll" >&2
	exit 1
fi

"$bench" -P "$work/passthrough_ll" -w "$work" "${flags[@]}" &
bench_pid=$!
set +e
wait "$bench_pid"
rc=$?
set -e
exit "$rc"
