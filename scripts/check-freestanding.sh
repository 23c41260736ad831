#!/usr/bin/env bash
# core/ (outside core/platform/) and blk/ may include only their own headers: the same
# files are compiled into the guest kernel module.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -n '#include *<' core/*.c core/*.h blk/*.c blk/*.h || true)
if [[ -n $bad ]]; then
	echo "core/ or blk/ files include system headers (go through core/platform.h):"
	echo "$bad"
	exit 1
fi
echo "core/ and blk/ are freestanding: $(ls core/*.[ch] blk/*.[ch] | wc -l) files checked"
