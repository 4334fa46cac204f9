#!/usr/bin/env bash
# Fetches axe-core's axe.min.js (the accessibility checker the console's
# browser tests inject into each page) from the npm package axe-core into a
# cache outside the work tree and checks its sha256. Idempotent: once the
# checked file is in place a run only reads a stamp.
#
#   scripts/axe-core.sh               fetch if needed, then print nothing
#   scripts/axe-core.sh --print-path  print where the file goes; never fetches
#
# Cache: ${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}/axe-core/
#   <version>/axe.min.js            the script (internal/web browser tests)
#   <version>/axe.min.js.sha256-ok  digest, size and mtime seen at the last check
set -euo pipefail

# Pinned. Bump both together (and axeVersion in internal/web/browser_test.go).
AXE_VERSION=4.14.1
AXE_PACKAGE=axe-core
AXE_SHA256=29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c

cache_root=${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}
axe_dir=$cache_root/axe-core
ver_dir=$axe_dir/$AXE_VERSION
js=$ver_dir/axe.min.js
stamp=$js.sha256-ok

case "${1:-}" in
--print-path)
	echo "$js"
	exit 0
	;;
"") ;;
*)
	echo "usage: $0 [--print-path]" >&2
	exit 2
	;;
esac

stamp_line() {
	echo "$AXE_SHA256 $(stat -c '%s %Y' "$1")"
}

checked() {
	[ -f "$js" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stamp_line "$js")" ]
}

checked && exit 0

mkdir -p "$ver_dir"
# One fetch at a time per cache; a second caller waits, then finds it done.
exec 9>"$axe_dir/.lock"
flock 9

checked && exit 0

# A file already here (stamp lost, say) is kept if its digest is right.
if [ -f "$js" ]; then
	if [ "$(sha256sum "$js" | cut -d' ' -f1)" = "$AXE_SHA256" ]; then
		stamp_line "$js" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
		exit 0
	fi
	echo "axe-core: $js has the wrong sha256; fetching it again" >&2
	rm -f "$js" "$stamp"
fi

command -v npm >/dev/null 2>&1 || {
	echo "axe-core: npm not found; run scripts/deps.sh (Debian package npm)" >&2
	exit 1
}

tmp=$(mktemp -d "$axe_dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "axe-core: fetching $AXE_PACKAGE@$AXE_VERSION into $ver_dir"
tgz=$(cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" \
	--loglevel=error "$AXE_PACKAGE@$AXE_VERSION" | tail -n1)
[ -f "$tmp/$tgz" ] || {
	echo "axe-core: npm pack $AXE_PACKAGE@$AXE_VERSION produced no tarball (got '$tgz')" >&2
	exit 1
}
tar -xzf "$tmp/$tgz" -C "$tmp" package/axe.min.js

got=$(sha256sum "$tmp/package/axe.min.js" | cut -d' ' -f1)
if [ "$got" != "$AXE_SHA256" ]; then
	echo "axe-core: $AXE_PACKAGE@$AXE_VERSION axe.min.js: sha256 $got, want $AXE_SHA256" >&2
	exit 1
fi

chmod 0644 "$tmp/package/axe.min.js"
# npm tarballs carry a 1985 mtime; give the file the time it arrived.
touch "$tmp/package/axe.min.js"
mv -f "$tmp/package/axe.min.js" "$js"
stamp_line "$js" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
echo "axe-core: $js ready"
