#!/usr/bin/env bash
# Stop the main job: unmount /mnt/ivshm, stop ivshm-server. The region in
# /dev/shm is kept (it holds the data); remove it by hand to start over.
set -uo pipefail
run=${IVSHM_RUN:-/run/ivshm}
mnt=${IVSHM_MNT:-/mnt/ivshm}
if mountpoint -q "$mnt" 2>/dev/null; then
	fusermount3 -u "$mnt" && echo "unmounted $mnt"
fi
if [[ -f $run/server.pid ]]; then
	pid=$(cat "$run/server.pid")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		echo "stopped ivshm-server (pid $pid)"
	fi
fi
exit 0
