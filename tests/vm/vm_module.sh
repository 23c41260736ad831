#!/bin/bash
# SPDX-License-Identifier: MIT
#
# vm_module.sh SRCDIR WORKDIR
#
# Builds guest-driver/ivblk.ko (Kbuild over the same core/ and blk/
# sources as userspace), boots a real guest with it and checks that it
# loads, passes its self-test in the guest kernel and unloads.
# Exit 0 on success, 77 (skip) without qemu, a kernel or kernel headers.
set -euo pipefail
src=$1
work=$2
here=$(dirname "$0")

command -v "${IVSHM_QEMU:-qemu-system-x86_64}" >/dev/null ||
	{ echo "SKIP: no qemu-system-x86_64"; exit 77; }
ls /usr/src/linux-headers-*-amd64 >/dev/null 2>&1 ||
	{ echo "SKIP: no linux-headers-amd64"; exit 77; }
mkdir -p "$work"
make -s -C "$src/guest-driver" >"$work/kbuild.log" 2>&1 ||
	{ cat "$work/kbuild.log" >&2; echo "FAIL: module build"; exit 1; }
"$here/mkinitramfs.sh" "$work/module.cpio.gz" \
	"$src/guest-driver/ivblk.ko:/ivblk.ko" \
	"$here/guest/module-test.sh:/test.sh"
"$here/run-guest.sh" -t "${IVSHM_VM_TIMEOUT:-120}" -L "$work/console.log" \
	"$work/module.cpio.gz" || {
	rc=$?
	tail -40 "$work/console.log" >&2
	echo "FAIL: guest status $rc"
	exit 1
}
grep -q "ivblk loaded, self-tested and unloaded" "$work/console.log" ||
	{ tail -40 "$work/console.log" >&2; echo "FAIL: no result"; exit 1; }
echo "PASS: ivblk.ko ran its self-test in a guest kernel"
