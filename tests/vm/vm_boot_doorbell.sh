#!/bin/bash
# SPDX-License-Identifier: MIT
#
# vm_boot_doorbell.sh IVSHM_SERVER HOST_PEER INITRAMFS
#
# One real guest against ivshm-server, with a host peer (the device model)
# on the other side:
#   host peer joins first (id 0), writes known bytes, waits on vector 1;
#   guest (id 1) finds PCI 1af4:1110, checks IVPosition, BAR2 size and the
#   host's bytes, writes its own bytes, rings host vector 1, waits for an ack;
#   host peer sees peer 1 join and the ring, checks the guest's bytes, acks.
# Exit 0 when both sides passed, 77 (skip) without qemu or a kernel.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

[ $# -eq 3 ] || { echo "usage: $0 IVSHM_SERVER HOST_PEER INITRAMFS" >&2; exit 2; }
IVSHM_SERVER=$1
peer=$2
initrd=$3

command -v "${IVSHM_QEMU:-qemu-system-x86_64}" >/dev/null ||
	{ echo "SKIP: no qemu-system-x86_64"; exit 77; }
vm_kernel >/dev/null || { echo "SKIP: no kernel in /boot"; exit 77; }

size=$((4 << 20))
host_pat="0x0:4956534d2d484f53542d30,0x1235:00ff7f80a55a,0x3ffff0:0123456789abcdeffedcba9876543210"
guest_pat="0x2000:4956534d2d47554553542d31,0x3fffe0:f0e1d2c3b4a5968778695a4b3c2d1e0f"
ack_pat="0x3000:41434b21"
# Under the CTest TIMEOUT (180 s), so that our cleanup always runs.
guest_timeout=${IVSHM_VM_TIMEOUT:-100}

vm_init doorbell
vm_server_start srv -l 4M -n 2 -v

peer_args=(-S "$VM_SOCK" -n 2 -V 1 -P 1 -t "$((guest_timeout + 10))")
for p in ${host_pat//,/ }; do peer_args+=(-w "$p"); done
for p in ${guest_pat//,/ }; do peer_args+=(-x "$p"); done
peer_args+=(-a "$ack_pat")
"$peer" "${peer_args[@]}" >"$VM_TMP/peer.log" 2>&1 &
peer_pid=$!
vm_on_exit "vm_kill $peer_pid"
vm_wait_file "$VM_TMP/peer.log" 'host-peer: READY id=' 10 "$peer_pid" || {
	cat "$VM_TMP/peer.log" >&2
	vm_fail "host peer did not join the server"
}
host_id=$(sed -n 's/.*READY id=\([0-9]*\).*/\1/p' "$VM_TMP/peer.log")
# A fresh server numbers peers from 0 in order of arrival.
[ "$host_id" = 0 ] || vm_fail "host peer got id $host_id from a fresh server, expected 0"
vm_log "host peer joined as id $host_id; booting the guest"

vm_boot vm1 -t "$guest_timeout" -d "$VM_SOCK:2" \
	-a IVSHM_EXPECT_ID=1 -a IVSHM_SIZE=$size -a IVSHM_HOST_ID="$host_id" \
	-a IVSHM_VECTOR=1 -a IVSHM_HOST_PAT="$host_pat" \
	-a IVSHM_GUEST_PAT="$guest_pat" -a IVSHM_ACK_PAT="$ack_pat" \
	"$initrd"
guest_rc=0
vm_finish vm1 || guest_rc=$?

# A passing guest saw the ack, so the host peer is done or about to be; a
# failed one may never ring: no point in waiting then.
peer_rc=0
vm_wait_exit "$peer_pid" "$([ "$guest_rc" = 0 ] && echo 10 || echo 0)" || peer_rc=$?
if [ "$peer_rc" = 124 ]; then
	vm_kill "$peer_pid"
	echo "host-peer: still waiting when the guest ended: killed" >>"$VM_TMP/peer.log"
fi
vm_log "host peer output:"
sed 's/^/  | /' "$VM_TMP/peer.log" >&2

if [ "$guest_rc" != 0 ] || [ "$peer_rc" != 0 ]; then
	vm_fail "guest status $guest_rc (run-guest.sh), host peer status $peer_rc"
fi
vm_log "PASS"
