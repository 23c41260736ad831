#!/bin/sh
# SPDX-License-Identifier: MIT
#
# /test.sh of vm_boot_doorbell (driven by ../vm_boot_doorbell.sh). The
# expectations come from the kernel command line (run-guest.sh -a):
#   IVSHM_EXPECT_ID   our IVPosition      IVSHM_SIZE    BAR2 size in bytes
#   IVSHM_HOST_ID     the host peer's id  IVSHM_VECTOR  the vector we ring
#   IVSHM_HOST_PAT    OFF:HEX,... the host peer wrote before we booted
#   IVSHM_GUEST_PAT   OFF:HEX,... we write, and the host checks
#   IVSHM_ACK_PAT     OFF:HEX the host writes once its checks passed

fail()
{
	echo "doorbell-test: FAIL: $*"
	exit 1
}

for v in IVSHM_EXPECT_ID IVSHM_SIZE IVSHM_HOST_ID IVSHM_VECTOR \
	 IVSHM_HOST_PAT IVSHM_GUEST_PAT IVSHM_ACK_PAT; do
	eval "[ -n \"\${$v:-}\" ]" || fail "$v missing from the kernel command line"
done

[ "$(ivshm-bar count)" = 1 ] || fail "expected one ivshmem device (PCI 1af4:1110), found $(ivshm-bar count)"
dev=$(ivshm-bar find) || fail "ivshm-bar find"
echo "doorbell-test: device at $dev"

size=$(ivshm-bar size) || fail "cannot map BAR2"
[ "$size" = "$IVSHM_SIZE" ] || fail "BAR2 is $size bytes, expected $IVSHM_SIZE"

id=$(ivshm-bar ivposition) || fail "cannot map BAR0"
[ "$id" = "$IVSHM_EXPECT_ID" ] || fail "IVPosition is $id, expected $IVSHM_EXPECT_ID"
echo "doorbell-test: IVPosition $id, BAR2 $size bytes"

for p in $(echo "$IVSHM_HOST_PAT" | tr , ' '); do
	ivshm-bar expect "${p%%:*}" "${p#*:}" || fail "host bytes $p not in BAR2"
done
echo "doorbell-test: host bytes present"

for p in $(echo "$IVSHM_GUEST_PAT" | tr , ' '); do
	ivshm-bar write "${p%%:*}" "${p#*:}" || fail "cannot write $p"
	ivshm-bar expect "${p%%:*}" "${p#*:}" || fail "$p did not read back"
done

# ivshm-bar fences the stores above before the doorbell write.
ivshm-bar ring "$IVSHM_HOST_ID" "$IVSHM_VECTOR" || fail "ring"
echo "IVSHM-VM-MARK: rang"

# The host writes the ack only after it saw the ring and our bytes.
ivshm-bar wait "${IVSHM_ACK_PAT%%:*}" "${IVSHM_ACK_PAT#*:}" 15 ||
	fail "no ack from the host peer within 15 s (see its output)"
echo "doorbell-test: host acknowledged"
