#!/usr/bin/env bash
# Installs Grafana's published dashboard types (npm @grafana/schema, which
# ships TypeScript types only) and the TypeScript compiler into a cache
# outside the work tree, for the dashboard schema test in dashboards/.
# Idempotent: once both pinned versions are in place a run only reads two
# package.json files.
#
#   scripts/grafana-schema.sh               install if needed, then print nothing
#   scripts/grafana-schema.sh --print-path  print the install directory; never installs
#
# Cache: ${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}/grafana-schema/
#   node_modules/@grafana/schema   the types (dist/types/index.d.ts exports Dashboard)
#   node_modules/.bin/tsc          the compiler the test runs with --noEmit --strict
set -euo pipefail

# Pinned, and bumped together with the expectations in dashboards/schema_test.go.
# TypeScript stays on 5.x: 7.x is the native compiler with per-platform packages.
SCHEMA_VERSION=13.2.3
TYPESCRIPT_VERSION=5.9.3

cache_root=${CAMPUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campusguard}
dir=$cache_root/grafana-schema

case "${1:-}" in
--print-path)
	echo "$dir"
	exit 0
	;;
"") ;;
*)
	echo "usage: $0 [--print-path]" >&2
	exit 2
	;;
esac

# installed PACKAGE VERSION: the package's own package.json says VERSION.
installed() {
	local pj=$dir/node_modules/$1/package.json
	[ -f "$pj" ] && grep -q "\"version\": *\"$2\"" "$pj"
}

ready() {
	installed @grafana/schema "$SCHEMA_VERSION" && installed typescript "$TYPESCRIPT_VERSION" &&
		[ -x "$dir/node_modules/.bin/tsc" ]
}

if ready; then
	exit 0
fi

mkdir -p "$dir"
# One install at a time per cache; a second caller waits, then finds it done.
exec 9>"$dir/.lock"
flock 9
if ready; then
	exit 0
fi

command -v npm >/dev/null 2>&1 || {
	echo "grafana-schema: npm not found; run scripts/deps.sh (Debian package npm)" >&2
	exit 1
}

echo "grafana-schema: installing @grafana/schema@$SCHEMA_VERSION and typescript@$TYPESCRIPT_VERSION into $dir"
start=$SECONDS
# A package.json of our own keeps npm from looking for one in a parent
# directory, and records what this directory is for.
cat >"$dir/package.json" <<EOF
{
  "name": "campusguard-grafana-schema",
  "private": true,
  "description": "Written by campusguard scripts/grafana-schema.sh; safe to delete.",
  "dependencies": {
    "@grafana/schema": "$SCHEMA_VERSION",
    "typescript": "$TYPESCRIPT_VERSION"
  }
}
EOF
(cd "$dir" && npm install --silent --no-audit --no-fund --ignore-scripts --no-package-lock \
	--cache "$dir/.npm-cache" --loglevel=error)
rm -rf "$dir/.npm-cache"
if ! ready; then
	echo "grafana-schema: npm install finished but $dir lacks @grafana/schema@$SCHEMA_VERSION or typescript@$TYPESCRIPT_VERSION" >&2
	exit 1
fi
echo "grafana-schema: ready ($((SECONDS - start)) s)"
