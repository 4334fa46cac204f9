#!/usr/bin/env bash
# `make run`: campusguard on the embedded default, populated. It replays a
# demo capture into the pipeline (a campus-like mix, then one laptop that
# keeps looking up a phishing domain), answers DNS on 127.0.0.1:1053, loads
# sample forum posts into the moderation queue, and serves the console on
# http://127.0.0.1:8080 with a printed first-login password. Everything it
# writes is under bin/demo/; `rm -rf bin/demo` starts over. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/campusguard}
GO=${GO:-go}
DEMO=bin/demo
export CAMPUSGUARD_CONFIG=deploy/demo/campusguard.yaml
export CAMPUSGUARD_HITLOG_URL="chdb://$PWD/$DEMO/hits"
LISTEN=${CAMPUSGUARD_HTTP_LISTEN:-127.0.0.1:8080}
export CAMPUSGUARD_HTTP_LISTEN=$LISTEN
URL="http://$LISTEN"

mkdir -p "$DEMO"
chmod 700 "$DEMO"
[ -f bin/demo.pcap ] || $GO run ./cmd/pcapgen -packets 20000 -tunnels 0.2 -out bin/demo.pcap
[ -f bin/demo-repeat.pcap ] || $GO run ./cmd/pcapgen -packets 400 -seed 7 -client 10.3.7.21 -gap 5s \
	-names login-verify.example,www.example.com,library.example.edu -out bin/demo-repeat.pcap

if [ ! -s "$DEMO/admin-password" ]; then
	pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 16)
	printf '%s\n' "$pw" | "$BIN" users add --role admin --password-stdin admin
	(umask 077 && printf '%s\n' "$pw" >"$DEMO/admin-password")
fi
if [ ! -s "$DEMO/forum-token" ]; then
	(umask 077 && "$BIN" tokens add --scope ingest demo-forum >"$DEMO/forum-token")
fi
if [ ! -s "$DEMO/feeds-token" ]; then
	(umask 077 && "$BIN" tokens add --scope feeds demo-firewall >"$DEMO/feeds-token")
fi

"$BIN" serve &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 120); do
	curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { echo "demo: campusguard serve exited; see the log above" >&2; exit 1; }
	sleep 0.5
done
curl -fsS "$URL/readyz" >/dev/null

# The forum posts its new threads; the verdicts come back at once.
curl -fsS -H "Authorization: Bearer $(cat "$DEMO/forum-token")" -H 'Content-Type: application/x-ndjson' \
	--data-binary @deploy/demo/posts.ndjson "$URL/api/v1/posts" >"$DEMO/verdicts.ndjson"
# A few live lookups through the in-process resolver.
if command -v dig >/dev/null; then
	for name in login-verify.example www.example.com x.webmail-upgrade.test; do
		dig +short +tries=1 +time=2 @127.0.0.1 -p 1053 "$name" >/dev/null || true
	done
fi

cat <<MSG

  campusguard demo is running.
    console   $URL/   user: admin   password: $(cat "$DEMO/admin-password")
    posts     $(grep -o '"verdict":"\(hold\|reject\)"' "$DEMO/verdicts.ndjson" | wc -l) of $(wc -l <deploy/demo/posts.ndjson) sample posts held or rejected for review (Queue page)
    DNS       dig @127.0.0.1 -p 1053 login-verify.example   (blocked: NXDOMAIN with EDE)
    feeds     curl -H "Authorization: Bearer $(cat "$DEMO/feeds-token")" $URL/feeds/ips.txt
    metrics   curl $URL/metrics
  Press Ctrl-C to stop. State, hits and the password stay in $DEMO/.

MSG
wait "$pid"
