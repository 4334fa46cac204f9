#!/usr/bin/env bash
# Fetches chDB's libchdb.so (embedded ClickHouse, ~566 MB) from the npm
# package @chdb/lib-linux-x64-gnu into a cache outside the work tree, checks
# its sha256 and links it at a stable path. Idempotent: once the checked file
# is in place a run only reads a stamp.
#
#   scripts/chdb-lib.sh               fetch if needed, then print nothing
#   scripts/chdb-lib.sh --print-path  print where the library goes; never fetches
#
# Cache: ${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}/chdb/
#   <version>/libchdb.so            the library (internal/hitlog/chtest.LibPath)
#   <version>/libchdb.so.sha256-ok  digest, size and mtime seen at the last check
#   libchdb.so                      symlink to the versioned file
set -euo pipefail

# Pinned: the npm `latest` tag points at an older build. Bump both together
# (and chtest.ChDBVersion, which a test keeps in step with this line).
CHDB_VERSION=26.7.3-stable.1
CHDB_PACKAGE=@chdb/lib-linux-x64-gnu
CHDB_SHA256=36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5

cache_root=${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}
chdb_dir=$cache_root/chdb
ver_dir=$chdb_dir/$CHDB_VERSION
lib=$ver_dir/libchdb.so
stamp=$lib.sha256-ok
link=$chdb_dir/libchdb.so

case "${1:-}" in
--print-path)
	echo "$lib"
	exit 0
	;;
"") ;;
*)
	echo "usage: $0 [--print-path]" >&2
	exit 2
	;;
esac

# What the stamp records: the expected digest and the file's size and mtime,
# so a replaced or truncated file is hashed again.
stamp_line() {
	echo "$CHDB_SHA256 $(stat -c '%s %Y' "$1")"
}

checked() {
	[ -f "$lib" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stamp_line "$lib")" ]
}

link_stable() {
	# ln -sfn replaces the link in one rename when it already exists as a link.
	[ "$(readlink "$link" 2>/dev/null)" = "$CHDB_VERSION/libchdb.so" ] ||
		ln -sfn "$CHDB_VERSION/libchdb.so" "$link"
}

if checked; then
	link_stable
	exit 0
fi

mkdir -p "$ver_dir"
# One fetch at a time per cache; a second caller waits, then finds it done.
exec 9>"$chdb_dir/.lock"
flock 9

if checked; then
	link_stable
	exit 0
fi

# A file already here (stamp lost, say) is kept if its digest is right.
if [ -f "$lib" ]; then
	if [ "$(sha256sum "$lib" | cut -d' ' -f1)" = "$CHDB_SHA256" ]; then
		stamp_line "$lib" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
		link_stable
		exit 0
	fi
	echo "chdb: $lib has the wrong sha256; fetching it again" >&2
	rm -f "$lib" "$stamp"
fi

command -v npm >/dev/null 2>&1 || {
	echo "chdb: npm not found; run scripts/deps.sh (Debian package npm)" >&2
	exit 1
}

# The temp dir is inside the cache so the final rename stays on one
# filesystem; npm gets its own cache there so the tarball isn't kept twice.
tmp=$(mktemp -d "$chdb_dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "chdb: fetching $CHDB_PACKAGE@$CHDB_VERSION (~180 MB) into $ver_dir"
start=$SECONDS
tgz=$(cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" \
	--loglevel=error "$CHDB_PACKAGE@$CHDB_VERSION" | tail -n1)
[ -f "$tmp/$tgz" ] || {
	echo "chdb: npm pack $CHDB_PACKAGE@$CHDB_VERSION produced no tarball (got '$tgz')" >&2
	exit 1
}
tar -xzf "$tmp/$tgz" -C "$tmp" package/libchdb.so
rm -rf "$tmp/$tgz" "$tmp/npm-cache"

got=$(sha256sum "$tmp/package/libchdb.so" | cut -d' ' -f1)
if [ "$got" != "$CHDB_SHA256" ]; then
	echo "chdb: $CHDB_PACKAGE@$CHDB_VERSION libchdb.so: sha256 $got, want $CHDB_SHA256" >&2
	exit 1
fi

chmod 0755 "$tmp/package/libchdb.so"
mv -f "$tmp/package/libchdb.so" "$lib"
stamp_line "$lib" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
link_stable
echo "chdb: $lib ready ($((SECONDS - start)) s)"
