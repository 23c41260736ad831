#!/bin/sh
# In the guest: the store's core/ code, compiled into ivblk.ko, runs in the
# kernel (its load-time self-test formats and classifies a region).
set -e
insmod /ivblk.ko
if ! dmesg | grep -q "ivblk: store core self-test passed"; then
	dmesg | tail -20
	echo "ivblk self-test did not pass"
	exit 1
fi
rmmod ivblk
echo "ivblk loaded, self-tested and unloaded"
