#!/usr/bin/env bash
# Install, from Debian's archive, everything ivshm needs to build and test.
# Idempotent: packages already present are skipped, so a second run is quick.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config
	libfuse3-dev fuse3 zlib1g-dev libcunit1-dev
	qemu-system-x86 busybox-static cpio
	linux-image-amd64 linux-headers-amd64
	clang libclang-rt-14-dev python3
	sqlite3 git attr acl fio
)
[[ ${IVSHM_DEPS_EXTRA:-} ]] && read -r -a extra <<<"$IVSHM_DEPS_EXTRA" && pkgs+=("${extra[@]}")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
echo "deps: installing ${missing[*]}"
sudo_cmd=()
((EUID == 0)) || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
