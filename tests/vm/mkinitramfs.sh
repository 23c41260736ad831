#!/bin/bash
# SPDX-License-Identifier: MIT
#
# mkinitramfs.sh OUT.cpio.gz [SRC:GUEST_PATH ...]
#
# Builds the initramfs of a test guest: static busybox with every applet
# symlinked, our /init (tests/vm/init), a few kernel modules of the guest
# kernel, and the extra files given. A GUEST_PATH ending in / keeps the
# source's name. Dynamically linked programs bring their shared libraries.
# The archive is reproducible (fixed owners, times and order), so OUT is
# only replaced when its content changes.
#
# Environment:
#   IVSHM_VM_MODULES  modules to include with their dependencies
#                     (default "fuse vfio-pci vfio_iommu_type1 uio_pci_generic";
#                     empty for none); load them in the guest with modprobe.
#   IVSHM_VM_KERNEL / IVSHM_VM_KVER  the guest kernel (see lib.sh).
#   BUSYBOX           the static busybox (default /bin/busybox).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 OUT.cpio.gz [SRC:GUEST_PATH ...]" >&2; exit 2; }
out=$1
shift
busybox=${BUSYBOX:-/bin/busybox}
modules=${IVSHM_VM_MODULES-fuse vfio-pci vfio_iommu_type1 uio_pci_generic}

# A dynamic busybox would need its libraries: insist on the static one.
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	echo "$0: $busybox is not a static busybox (apt-get install busybox-static)" >&2
	exit 1
fi

stage=$(mktemp -d /tmp/ivshm-vm-initramfs.XXXXXX)
tmp=$out.tmp.$$
trap 'rm -rf "$stage" "$tmp"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,lib/modules}

cp "$busybox" "$stage/bin/busybox"
# Applet links at build time: the guest then needs no --install at boot.
for a in $("$busybox" --list-full); do
	[ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
done
install -m 0755 "$VM_DIR/init" "$stage/init"

# Copy one file; for a dynamic ELF also its libraries and loader, at the
# same paths as on the host.
add_file()
{
	local src=$1 dst=$2 lib

	mkdir -p "$(dirname "$stage$dst")"
	cp -RL "$src" "$stage$dst"
	[ -f "$src" ] && file -L "$src" | grep -q 'dynamically linked' || return 0
	for lib in $(ldd "$src" | awk '/=> \//{print $3} /^\t\//{print $1}'); do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$(dirname "$stage$lib")"
		cp -L "$lib" "$stage$lib"
	done
}

for spec in "$@"; do
	src=${spec%%:*}
	dst=${spec#*:}
	if [ "$src" = "$spec" ] || [ -z "$dst" ] || [ "${dst#/}" = "$dst" ]; then
		echo "$0: extra file '$spec' is not SRC:/GUEST_PATH" >&2
		exit 2
	fi
	[ -e "$src" ] || { echo "$0: $src: no such file" >&2; exit 1; }
	case $dst in */) dst=$dst$(basename "$src") ;; esac
	add_file "$src" "$dst"
done

# Modules and their dependencies, with a modules.dep listing only them.
if [ -n "$modules" ]; then
	kver=$(vm_kernel_release) || { echo "$0: no kernel in /boot" >&2; exit 1; }
	mdir=/lib/modules/$kver
	[ -f "$mdir/modules.dep" ] || { echo "$0: $mdir/modules.dep missing" >&2; exit 1; }
	want=()
	for m in $modules; do
		line=$(awk -v m="${m//-/_}" -F: '{ n = $1; sub(/.*\//, "", n);
			sub(/\.ko.*/, "", n); gsub(/-/, "_", n);
			if (n == m) { print; exit } }' "$mdir/modules.dep")
		[ -n "$line" ] || { echo "$0: module $m not in $mdir" >&2; exit 1; }
		read -ra kos <<<"${line/:/}"
		want+=("${kos[@]}")
	done
	mkdir -p "$stage$mdir"
	for ko in $(printf '%s\n' "${want[@]}" | sort -u); do
		mkdir -p "$(dirname "$stage$mdir/$ko")"
		cp "$mdir/$ko" "$stage$mdir/$ko"
		grep -E "^$ko:" "$mdir/modules.dep" >>"$stage$mdir/modules.dep"
	done
	cp "$mdir/modules.builtin" "$stage$mdir/" 2>/dev/null || true
fi

# Reproducible archive: same inputs, same bytes.
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
	gzip -n -6 >"$tmp"
if cmp -s "$tmp" "$out"; then
	rm -f "$tmp"
else
	mv -f "$tmp" "$out"
fi
