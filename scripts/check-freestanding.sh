#!/usr/bin/env bash
# core/ outside core/platform/ may include only its own headers: the same
# files are compiled into the guest kernel module.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -n '#include *<' core/*.c core/*.h || true)
if [[ -n $bad ]]; then
	echo "core/ files include system headers (go through core/platform.h):"
	echo "$bad"
	exit 1
fi
echo "core/ is freestanding: $(ls core/*.c core/*.h | wc -l) files checked"
