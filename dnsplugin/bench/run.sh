#!/usr/bin/env bash
# Benchmarks cmd/coredns with and without the campusguard plugin, in one run:
# the same binary and the same upstream (a local template answer, so the
# network is not the limit), one server with campusguard and an N-domain
# list (default 1M), one without. The servers share CPU 0, dnsperf runs on
# CPU 1. Reports:
#   - QPS of each at saturation (dnsperf -c 8 -q 200, best of 2 alternating rounds) and the ratio;
#   - latency p50/p99 of each at a fixed 5k qps (dnsperf -v), and what the plugin adds;
#   - RSS of each after loading and after the runs (VmRSS), startup peak (VmHWM);
#   - peak RSS while the list is rebuilt (the list file is touched, reload 2s,
#     RSS sampled every 10 ms under a 5k qps load).
#
# usage: dnsplugin/bench/run.sh [SECONDS_PER_RUN] [DOMAINS]
# needs: go, dnsperf (apt-get install -y dnsperf), dig (dnsutils), taskset (util-linux)
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10}
N=${2:-1000000}
PLAIN_PORT=${PLAIN_PORT:-15353}
GUARD_PORT=${GUARD_PORT:-15354}
for tool in dnsperf dig taskset go; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (dnsperf: apt-get install -y dnsperf)" >&2; exit 2; }
done
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench: building cmd/coredns" >&2
go build -o "$WORK/coredns" ./cmd/coredns

echo "bench: generating $N domains" >&2
awk -v n="$N" 'BEGIN { srand(42); split("example test invalid", tld, " ")
	for (i = 0; i < n; i++) { l = 4 + int(rand() * 14); s = ""
		for (j = 0; j < l; j++) s = s sprintf("%c", 97 + int(rand() * 26))
		if (i % 4 == 0) s = "login-" s
		printf "%s%d.%s\n", s, i, tld[1 + i % 3] } }' > "$WORK/list.txt"
cat > "$WORK/bench.yaml" <<YAML
name: bench-1m
category: phishing
applies_to: [dns]
action: {network: block}
files: [{path: list.txt, format: domains}]
YAML
# 100k queries: 90% names that are not listed, 10% listed; A and AAAA.
awk 'NR % 100 == 0 { print $1, (NR % 200 ? "A" : "AAAA") }' "$WORK/list.txt" | head -n 10000 > "$WORK/blocked.q"
awk 'BEGIN { for (i = 0; i < 90000; i++) printf "www%d.allowed%d.example %s\n", i, i % 97, (i % 5 ? "A" : "AAAA") }' > "$WORK/allowed.q"
paste -d '\n' "$WORK/allowed.q" "$WORK/blocked.q" | grep -v '^$' > "$WORK/queries.txt"

upstream='
	template IN A {
		answer "{{ .Name }} 60 IN A 192.0.2.1"
	}
	template IN AAAA {
		answer "{{ .Name }} 60 IN AAAA 2001:db8::1"
	}'
printf '.:%s {\n\tbind 127.0.0.1\n%s\n}\n' "$PLAIN_PORT" "$upstream" > "$WORK/Corefile.plain"
printf '.:%s {\n\tbind 127.0.0.1\n\tcampusguard %s {\n\t\treload 2s\n\t}\n%s\n}\n' "$GUARD_PORT" "$WORK/bench.yaml" "$upstream" > "$WORK/Corefile.guard"

start() { # start NAME PORT -> pid in $PID
	taskset -c 0 "$WORK/coredns" -conf "$WORK/Corefile.$1" > "$WORK/$1.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	local t0=$SECONDS
	until dig +short +time=1 +tries=1 -p "$2" @127.0.0.1 probe.example A >/dev/null 2>&1; do
		kill -0 "$PID" 2>/dev/null || { cat "$WORK/$1.log" >&2; exit 1; }
		[ $((SECONDS - t0)) -lt 120 ] || { echo "bench: $1 did not start" >&2; exit 1; }
		sleep 0.2
	done
}
status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # kB

t0=$(date +%s.%N)
start plain "$PLAIN_PORT"; PLAIN=$PID
start guard "$GUARD_PORT"; GUARD=$PID
echo "bench: campusguard with $N domains ready in $(echo "$(date +%s.%N) - $t0" | bc) s (both servers)" >&2
dig +short -p "$GUARD_PORT" @127.0.0.1 "$(head -n1 "$WORK/list.txt")" A | grep -q . && { echo "bench: a listed name was answered" >&2; exit 1; }
sleep 1
RSS_PLAIN0=$(status "$PLAIN" VmRSS); RSS_GUARD0=$(status "$GUARD" VmRSS); HWM_GUARD0=$(status "$GUARD" VmHWM)

qps() { taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -l "$DUR" -c 8 -q 200 2>&1 | tee -a "$WORK/dnsperf.log" | awk '/Queries per second/ { print $4 }'; }
lat() { # p50 p99 in microseconds at 5k qps
	taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -l 5 -Q 5000 -v 2>/dev/null |
		awk '$1 == ">" { print $NF * 1000000 }' | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f %.0f\n", v[int(NR * 0.5)], v[int(NR * 0.99)] }'
}
best() { printf '%s\n' "$@" | sort -n | tail -n1; }

echo "bench: QPS, ${DUR}s per run, alternating" >&2
P1=$(qps "$PLAIN_PORT"); G1=$(qps "$GUARD_PORT"); P2=$(qps "$PLAIN_PORT"); G2=$(qps "$GUARD_PORT")
QP=$(best "$P1" "$P2"); QG=$(best "$G1" "$G2")
read -r LP50 LP99 < <(lat "$PLAIN_PORT")
read -r LG50 LG99 < <(lat "$GUARD_PORT")
RSS_PLAIN1=$(status "$PLAIN" VmRSS); RSS_GUARD1=$(status "$GUARD" VmRSS)

echo "bench: reload: touching the list, sampling RSS" >&2
taskset -c 1 dnsperf -s 127.0.0.1 -p "$GUARD_PORT" -d "$WORK/queries.txt" -l 8 -Q 5000 > "$WORK/reload-dnsperf.log" 2>&1 &
LOAD=$!
sleep 0.5
touch "$WORK/list.txt"
PEAK=0
for _ in $(seq 1 600); do
	r=$(status "$GUARD" VmRSS)
	[ "$r" -gt "$PEAK" ] && PEAK=$r
	sleep 0.01
done
wait "$LOAD" || true
LOST=$(awk '/Queries lost/ { print $3 }' "$WORK/reload-dnsperf.log")

cat <<REPORT
campusguard DNS benchmark: $N domains, $(nproc) CPUs (load average at the end: $(cut -d" " -f1-3 /proc/loadavg)), server on CPU 0, dnsperf on CPU 1, ${DUR}s runs
QPS        plain $P1 / $P2   campusguard $G1 / $G2   ratio (best of each) $(echo "scale=3; $QG / $QP" | bc)
latency    at 5k qps: plain p50 ${LP50}us p99 ${LP99}us   campusguard p50 ${LG50}us p99 ${LG99}us   p99 added $((LG99 - LP99))us
RSS        after start: plain $((RSS_PLAIN0 / 1024)) MB, campusguard $((RSS_GUARD0 / 1024)) MB (+$(((RSS_GUARD0 - RSS_PLAIN0) / 1024)) MB; startup peak $((HWM_GUARD0 / 1024)) MB)
RSS        after the runs: plain $((RSS_PLAIN1 / 1024)) MB, campusguard $((RSS_GUARD1 / 1024)) MB (+$(((RSS_GUARD1 - RSS_PLAIN1) / 1024)) MB)
reload     peak RSS while rebuilding the list: $((PEAK / 1024)) MB ($(echo "scale=2; $PEAK / $RSS_GUARD1" | bc)x steady); queries lost under 5k qps: ${LOST:-?}
REPORT
