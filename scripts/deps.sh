#!/usr/bin/env bash
# Installs what campusguard's build and tests need on a fresh Debian machine,
# and nothing that is already there. Idempotent: a second run does nothing.
set -euo pipefail

# Debian packages later components need are listed here as they arrive.
# tshark: ground truth for the capture tests; tcpdump: compiles capture.bpf;
# dnsutils, curl, openssl, iproute2: real clients in the namespace capture test.
# clickhouse-server, clickhouse-client: the ClickHouse 18.16 the hit log tests
# start on their own ports (internal/hitlog/chtest); the packaged service is
# not started. npm: fetches chDB's libchdb.so (scripts/chdb-lib.sh) and
# axe-core (scripts/axe-core.sh). chromium: the console's browser tests
# (internal/web, headless via chromedp).
# nftables: the nft command, to check the firewall tests from outside the library.
# prometheus: promtool for the alert rule tests in dashboards/ (no smaller
# Debian package ships promtool).
APT_PACKAGES=(ca-certificates git make tshark tcpdump dnsutils curl openssl iproute2
	clickhouse-server clickhouse-client chromium prometheus nftables)

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
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	# No service may start during the install: clickhouse-server's postinst
	# runs invoke-rc.d start and fails the install when that fails (no
	# systemd, say). A policy-rc.d that exits 101 forbids it; one already
	# there (as in container images) is left alone.
	policy=/usr/sbin/policy-rc.d
	made_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# campusguard deps.sh: no service starts during its install.\nexit 101\n' |
			$SUDO tee "$policy" >/dev/null
		$SUDO chmod 0755 "$policy"
		made_policy=1
		trap '$SUDO rm -f "$policy"' EXIT
	fi
	echo "deps: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
	if [ -n "$made_policy" ]; then
		$SUDO rm -f "$policy"
		trap - EXIT
	fi
	# The tests start their own servers; the packaged one must not hold port
	# 9000 now or after a reboot. Never `/etc/init.d/clickhouse-server stop`:
	# its start-stop-daemon --exec kills every clickhouse-server, test
	# servers included.
	if [[ " ${missing[*]} " == *" clickhouse-server "* ]]; then
		if [ -d /run/systemd/system ]; then
			$SUDO systemctl disable --now clickhouse-server.service >/dev/null 2>&1 || true
		else
			$SUDO update-rc.d clickhouse-server disable >/dev/null 2>&1 || true
		fi
	fi
fi
go mod download
"$(dirname "$0")/chdb-lib.sh"
"$(dirname "$0")/axe-core.sh"
"$(dirname "$0")/grafana-schema.sh"
