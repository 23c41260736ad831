#!/usr/bin/env bash
# The main job on one host: install what is missing, build, start
# ivshm-server on a region in /dev/shm, and mount /mnt/ivshm when the FUSE
# daemon is built. Settings via environment:
#   IVSHM_NAME (ivshm)  region /dev/shm/$IVSHM_NAME
#   IVSHM_SIZE (256M)   region size, a power of two (new regions only)
#   IVSHM_VECTORS (1)   doorbell vectors per peer
#   IVSHM_RUN (/run/ivshm)  socket and pidfile directory
#   IVSHM_MNT (/mnt/ivshm)  mount point
set -euo pipefail
cd "$(dirname "$0")/.."
name=${IVSHM_NAME:-ivshm}
size=${IVSHM_SIZE:-256M}
vectors=${IVSHM_VECTORS:-1}
run=${IVSHM_RUN:-/run/ivshm}
mnt=${IVSHM_MNT:-/mnt/ivshm}

bash scripts/deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

mkdir -p "$run"
chmod 700 "$run"
if [[ -f $run/server.pid ]] && kill -0 "$(cat "$run/server.pid")" 2>/dev/null; then
	echo "ivshm-server already running (pid $(cat "$run/server.pid"))"
else
	size_flag=(-l "$size")
	# An existing region is served as it is: its data is kept.
	[[ -e /dev/shm/$name ]] && size_flag=()
	build/bin/ivshm-server -S "$run/ivshm.sock" -M "$name" \
		"${size_flag[@]}" -n "$vectors" -p "$run/server.pid"
	for _ in $(seq 50); do
		[[ -S $run/ivshm.sock && -s $run/server.pid ]] && break
		sleep 0.1
	done
	echo "ivshm-server: pid $(cat "$run/server.pid"), socket $run/ivshm.sock, region /dev/shm/$name"
fi

if [[ -x build/bin/ivshm-fuse ]]; then
	mkdir -p "$mnt"
	if mountpoint -q "$mnt"; then
		echo "$mnt is already mounted"
	else
		build/bin/ivshm-fuse -o socket="$run/ivshm.sock" "$mnt"
		echo "mounted $mnt"
	fi
fi
echo "QEMU guests join with:"
echo "  -chardev socket,path=$run/ivshm.sock,id=ivshm0 -device ivshmem-doorbell,chardev=ivshm0,vectors=$vectors"
echo "stop with: bash scripts/down.sh"
