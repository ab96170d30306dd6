#!/usr/bin/env bash
# Install the Debian packages Umbra needs, only those that are missing.
# Runs as root (CI, the project machines) or through sudo when available.
set -euo pipefail

packages=(
	build-essential      # gcc, make
	gcc-multilib         # 32-bit guests
	clang                # libFuzzer and sanitizer builds
	libclang-rt-14-dev   # clang's sanitizer and fuzzer runtimes
	libcmocka-dev        # hosted unit tests
	libzydis-dev         # the reference decoder for the decoder's tests
	qemu-system-x86      # the test machine
	python3              # small host-side scripts
)

missing=()
for p in "${packages[@]%% *}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	}
	as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
