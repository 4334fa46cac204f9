#!/usr/bin/env bash
# Installs what campusguard's build and tests need on a fresh Debian machine,
# and nothing that is already there. Idempotent: a second run does nothing.
set -euo pipefail

# Debian packages later components need are listed here as they arrive.
# tshark: ground truth for the capture tests; tcpdump: compiles capture.bpf;
# dnsutils, curl, openssl, iproute2: real clients in the namespace capture test.
APT_PACKAGES=(ca-certificates git make tshark tcpdump dnsutils curl openssl iproute2)

need_go() {
	if command -v go >/dev/null 2>&1; then return 1; fi
	[ -x /usr/local/go/bin/go ] && export PATH=/usr/local/go/bin:$PATH && return 1
	return 0
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if need_go; then missing+=(golang-go); fi
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	echo "deps: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
go mod download
