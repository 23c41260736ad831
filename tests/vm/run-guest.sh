#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-guest.sh [OPTION]... INITRAMFS
#
# Boots one test guest under TCG (the Debian kernel in /boot and an initramfs
# from mkinitramfs.sh), saves its whole console, and turns the guest's
# verdict line into the exit status. Safe to run in the background: it owns
# its qemu, kills it at the timeout or when it is itself killed (SIGTERM,
# SIGINT), and never touches other processes.
#
#   -L FILE       console log (default /tmp/ivshm-vm-run-PID.log)
#   -t SECONDS    hard timeout, then qemu is killed (default
#                 $IVSHM_VM_TIMEOUT or 120)
#   -d SOCK[:N]   an ivshmem-doorbell device on the ivshm-server socket SOCK
#                 with N vectors (default 1); repeatable
#   -p FILE       an ivshmem-plain device on region FILE (shared, its size
#                 must be a power of two); repeatable
#   -a WORD       add WORD to the kernel command line; IVSHM_*=VALUE words
#                 become environment variables of /test.sh; repeatable
#   -m SIZE       guest memory (default 512M)
#   -q ARG        one extra qemu argument; repeatable
#   -I            interactive: console on this terminal (also logged) and a
#                 shell in the guest after /test.sh
#   -s            summary only: no console tail on failure (lib.sh's
#                 vm_finish shows the whole console itself)
#
# Devices appear on the guest's PCI bus in the order given.
# Exit status: 0 guest said PASS, 1 guest said FAIL, 2 usage or setup error,
# 3 no verdict (kernel panic, qemu error or crash), 4 timeout.
# Environment: IVSHM_VM_KERNEL (kernel image), IVSHM_VM_APPEND (more kernel
# command line), IVSHM_QEMU (default qemu-system-x86_64).
set -uo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage()
{
	sed -n '4,/^set /{/^#/s/^# \{0,1\}//p}' "$0" >&2
	exit 2
}

log=/tmp/ivshm-vm-run-$$.log
timeout=${IVSHM_VM_TIMEOUT:-120}
mem=512M
interactive=0
summary=0
append=()
devs=()
extra=()
ndev=0

while getopts "L:t:d:p:a:m:q:Ish" opt; do
	case $opt in
	L) log=$OPTARG ;;
	t) timeout=$OPTARG ;;
	d)
		sock=$OPTARG vec=1
		if [[ $OPTARG =~ ^(.*):([0-9]+)$ ]]; then
			sock=${BASH_REMATCH[1]} vec=${BASH_REMATCH[2]}
		fi
		[ -S "$sock" ] || { echo "run-guest: $sock is not a socket (is ivshm-server running?)" >&2; exit 2; }
		devs+=(-chardev "socket,path=$sock,id=iv$ndev"
		       -device "ivshmem-doorbell,chardev=iv$ndev,vectors=$vec")
		ndev=$((ndev + 1)) ;;
	p)
		[ -f "$OPTARG" ] || { echo "run-guest: $OPTARG: no region file" >&2; exit 2; }
		size=$(stat -c %s "$OPTARG")
		devs+=(-object "memory-backend-file,id=hm$ndev,size=$size,mem-path=$OPTARG,share=on"
		       -device "ivshmem-plain,memdev=hm$ndev")
		ndev=$((ndev + 1)) ;;
	a) append+=("$OPTARG") ;;
	m) mem=$OPTARG ;;
	q) extra+=("$OPTARG") ;;
	I) interactive=1 ;;
	s) summary=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
initrd=$1
[ -f "$initrd" ] || { echo "run-guest: $initrd: no initramfs" >&2; exit 2; }
if ! kernel=$(vm_kernel) || [ ! -r "$kernel" ]; then
	echo "run-guest: no readable kernel (/boot/vmlinuz-* or IVSHM_VM_KERNEL)" >&2
	exit 2
fi

# Never KVM: it hangs on this host, and TCG with -smp 2 is what gives the
# guests real atomics on the shared region (BRIEF.md).
cmdline="console=ttyS0 panic=-1 quiet ${IVSHM_VM_APPEND:-} ${append[*]}"
[ "$interactive" = 1 ] && cmdline="$cmdline IVSHM_VM_SHELL=1"
# shellcheck disable=SC2206 # IVSHM_QEMU may be a command with arguments
qemu=(${IVSHM_QEMU:-qemu-system-x86_64} -M q35 -accel tcg -smp 2 -m "$mem"
      -nographic -nodefaults -no-reboot
      -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
      "${devs[@]}" "${extra[@]}")

start=$EPOCHREALTIME
: >"$log" || exit 2
if [ "$interactive" = 1 ]; then
	"${qemu[@]}" -chardev "stdio,id=con,mux=on,signal=off,logfile=$log" \
		-serial chardev:con -mon chardev=con
	rc=$?
else
	# timeout(1) kills qemu at the deadline (and again with SIGKILL 5 s
	# later); our own SIGTERM is passed on to it.
	timeout -k 5 "$timeout" "${qemu[@]}" -serial stdio \
		</dev/null >>"$log" 2>&1 &
	qpid=$!
	trap 'kill -TERM $qpid 2>/dev/null; wait $qpid; exit 143' TERM INT HUP
	wait $qpid
	rc=$?
fi
took=$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $start }")

verdict=$(tr -d '\r' <"$log" | grep -aoE 'IVSHM-VM-RESULT: (PASS|FAIL rc=[0-9]+)' | tail -n 1)
case $verdict in
*PASS) status=0 ;;
*FAIL*) status=1 ;;
*)
	if [ "$interactive" = 0 ] && [ "$rc" = 124 ]; then
		status=4 verdict="TIMEOUT after ${timeout}s, qemu killed"
	else
		status=3 verdict="no verdict (guest panicked or rebooted, or qemu failed: qemu exit $rc)"
	fi ;;
esac
echo "run-guest: ${verdict#IVSHM-VM-RESULT: } in ${took}s; console: $log" >&2
if [ "$status" != 0 ] && [ "$summary" = 0 ]; then
	echo "run-guest: last console lines:" >&2
	vm_show_console "$log" | tail -n 25 >&2
fi
exit $status
