# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Shared helpers of the guest-boot harness (tests/vm/README.md). Sourced by
# mkinitramfs.sh and run-guest.sh (kernel choice only) and by test drivers
# (the rest): temp dir and cleanup, ivshm-server, background guests, waiting
# for markers in console logs.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The guest kernel: $IVSHM_VM_KERNEL, else the newest Debian /boot/vmlinuz-*.
vm_kernel()
{
	local k

	if [ -n "${IVSHM_VM_KERNEL:-}" ]; then
		echo "$IVSHM_VM_KERNEL"
		return
	fi
	k=$(printf '%s\n' /boot/vmlinuz-* | sort -V | tail -n 1)
	[ -e "$k" ] || return 1
	echo "$k"
}

# Its release (modules directory name): /boot/vmlinuz-6.1.0-56-amd64 -> 6.1.0-56-amd64.
vm_kernel_release()
{
	local k

	if [ -n "${IVSHM_VM_KVER:-}" ]; then
		echo "$IVSHM_VM_KVER"
		return
	fi
	k=$(vm_kernel) || return 1
	echo "${k##*/vmlinuz-}"
}

vm_log()
{
	echo "[$(date +%T)] ${VM_NAME:-vm}: $*" >&2
}

vm_fail()
{
	vm_log "FAIL: $*"
	exit 1
}

# Cleanup actions, run in reverse order at exit (success, failure or signal).
VM_CLEANUP=()

vm_on_exit()
{
	VM_CLEANUP+=("$*")
}

vm_cleanup()
{
	local i

	for ((i = ${#VM_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${VM_CLEANUP[i]}" || true
	done
	VM_CLEANUP=()
}

# vm_init NAME: temp dir $VM_TMP (/tmp/ivshm-vm-NAME-PID.XXXX) and the exit trap.
# Set IVSHM_VM_KEEP=1 to keep $VM_TMP (logs) after the test.
vm_init()
{
	VM_NAME=$1
	VM_TMP=$(mktemp -d "/tmp/ivshm-vm-$1-$$.XXXX") || exit 1
	if [ "${IVSHM_VM_KEEP:-0}" = 1 ]; then
		vm_on_exit "echo 'logs kept in $VM_TMP' >&2"
	else
		vm_on_exit "rm -rf '$VM_TMP'"
	fi
	trap vm_cleanup EXIT
	trap 'vm_log "interrupted"; exit 130' INT TERM HUP
}

# Kill a process we started and reap it.
vm_kill()
{
	local pid=$1

	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

# vm_wait_file FILE REGEX SECONDS [PID]: wait until an extended regex matches
# a line of FILE (carriage returns of the serial console ignored). Fails at
# the deadline or as soon as PID (the writer) has exited without a match.
vm_wait_file()
{
	local file=$1 re=$2 end=$((SECONDS + $3)) pid=${4:-}

	while :; do
		if [ -f "$file" ] && tr -d '\r' <"$file" | grep -aEq -- "$re"; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			# One last look: it may have written the line and left.
			tr -d '\r' <"$file" 2>/dev/null | grep -aEq -- "$re"
			return
		fi
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# vm_wait_exit PID SECONDS: wait for a background job to end, then reap it;
# returns its status, or 124 (still running) at the deadline.
vm_wait_exit()
{
	local pid=$1 end=$((SECONDS + $2))

	while kill -0 "$pid" 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || return 124
		sleep 0.1
	done
	wait "$pid"
}

# vm_server_start TAG [ivshm-server options]: an ivshm-server in the
# foreground of a background job, socket $VM_TMP/TAG.sock, region
# /dev/shm/ivshm-vm-PID-TAG. Sets VM_SOCK, VM_SHM (the -M name),
# VM_SERVER_PID; the server is killed and both files removed at exit
# (or after $IVSHM_VM_SERVER_TTL seconds, default 900, whatever happens).
vm_server_start()
{
	local tag=$1 server=${IVSHM_SERVER:-}

	shift
	[ -n "$server" ] || vm_fail "set IVSHM_SERVER to the ivshm-server binary"
	VM_SOCK=$VM_TMP/$tag.sock
	VM_SHM=ivshm-vm-$$-$tag
	vm_on_exit "rm -f '/dev/shm/$VM_SHM' '$VM_SOCK'"
	# Runs after the kill below: anything the server said, if it spoke.
	vm_on_exit "[ ! -s '$VM_TMP/$tag.server.log' ] ||
		{ vm_log 'ivshm-server output:'; sed 's/^/  | /' '$VM_TMP/$tag.server.log' >&2; }"
	# timeout(1): should this shell be SIGKILLed, the server still ends.
	timeout -k 5 "${IVSHM_VM_SERVER_TTL:-900}" \
		"$server" -F -S "$VM_SOCK" -M "$VM_SHM" "$@" \
		>"$VM_TMP/$tag.server.log" 2>&1 &
	VM_SERVER_PID=$!
	vm_on_exit "vm_kill $VM_SERVER_PID"
	# Listening, not just bound: the socket file exists a moment earlier.
	local end=$((SECONDS + 10))
	until awk -v p="$VM_SOCK" '$NF == p && $4 == "00010000" { ok = 1 }
		END { exit !ok }' /proc/net/unix; do
		if ! kill -0 "$VM_SERVER_PID" 2>/dev/null || [ "$SECONDS" -ge "$end" ]; then
			cat "$VM_TMP/$tag.server.log" >&2
			vm_fail "ivshm-server did not start"
		fi
		sleep 0.05
	done
}

# vm_boot TAG [run-guest.sh options] INITRAMFS: boot a guest in the
# background. Its console goes to $VM_TMP/TAG.log; VM_PID[TAG] is the
# run-guest.sh job (which owns qemu and enforces the timeout).
declare -A VM_PID

vm_boot()
{
	local tag=$1

	shift
	"$VM_DIR/run-guest.sh" -s -L "$VM_TMP/$tag.log" "$@" \
		>"$VM_TMP/$tag.run.log" 2>&1 &
	VM_PID[$tag]=$!
	vm_on_exit "vm_kill ${VM_PID[$tag]}"
}

vm_console()
{
	echo "$VM_TMP/$1.log"
}

# vm_wait_mark TAG MARK SECONDS: wait for "IVSHM-VM-MARK: MARK" from a guest.
vm_wait_mark()
{
	vm_wait_file "$VM_TMP/$1.log" "IVSHM-VM-MARK: $2\$" "$3" "${VM_PID[$1]}"
}

# vm_show_console FILE: a console log for humans (no CRs, no SeaBIOS
# terminal escapes), indented.
vm_show_console()
{
	tr -d '\r' <"$1" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/^/  | /'
}

# vm_finish TAG: wait for the guest to end; returns run-guest.sh's status
# (0 PASS, 1 FAIL, 2 setup error, 3 no verdict, 4 timeout) after showing
# its console.
vm_finish()
{
	local tag=$1 rc=0

	wait "${VM_PID[$tag]}" || rc=$?
	vm_log "console of guest $tag:"
	vm_show_console "$VM_TMP/$tag.log" >&2
	cat "$VM_TMP/$tag.run.log" >&2
	return "$rc"
}
