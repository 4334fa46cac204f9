#!/bin/bash
# Records the real-client captures in this folder: dig, curl and openssl in
# one network namespace talking to python3 and openssl servers in another,
# across a veth pair, captured with tcpdump (pcap, Ethernet), with
# tcpdump -i any (Linux cooked SLL2) and converted to pcapng by tshark.
# Run as root from this folder; it touches nothing outside its namespaces.
set -euo pipefail
c=cgrec-c s=cgrec-s
cleanup() { ip netns del $c 2>/dev/null || true; ip netns del $s 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $c; ip netns add $s
ip -n $c link add cg0 type veth peer name cg1 netns $s
ip -n $c addr add 10.99.0.1/24 dev cg0; ip -n $c link set cg0 up; ip -n $c link set lo up
ip -n $s addr add 10.99.0.2/24 dev cg1; ip -n $s link set cg1 up; ip -n $s link set lo up
tmp=$(mktemp -d)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=campus.example \
  -keyout $tmp/key.pem -out $tmp/cert.pem 2>/dev/null
ip netns exec $s python3 -m http.server 80 --bind 10.99.0.2 --directory $tmp >/dev/null 2>&1 &
ip netns exec $s openssl s_server -accept 10.99.0.2:443 -cert $tmp/cert.pem -key $tmp/key.pem -www -quiet >/dev/null 2>&1 &
# A DNS responder that answers every query with an empty NOERROR, so no
# ICMP port-unreachable (which quotes the query) follows it.
ip netns exec $s python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.99.0.2", 53))
while True:
    q, a = s.recvfrom(4096)
    s.sendto(q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x00\x00\x00\x00\x00" + q[12:], a)
' >/dev/null 2>&1 &
ip netns exec $s tcpdump -i cg1 -w real-clients.pcap -U -s 0 2>/dev/null &
ip netns exec $s tcpdump -i any -y LINUX_SLL2 -w real-clients-sll2.pcap -U -s 0 2>/dev/null &
sleep 2 # python needs a moment to listen
cl() { ip netns exec $c "$@" </dev/null >/dev/null 2>&1 || true; }
cl dig @10.99.0.2 +tries=1 +time=1 login-verify.example A
cl dig @10.99.0.2 +tries=1 +time=1 www.example.edu AAAA
cl curl -s -m 2 -H 'Host: lucky-casino.test' http://10.99.0.2/
cl curl -s -m 2 http://10.99.0.2/cert.pem http://10.99.0.2/missing   # two requests, one connection
cl curl -s -m 2 -k --resolve a.netid-verify.test:443:10.99.0.2 https://a.netid-verify.test/
cl timeout 3 openssl s_client -connect 10.99.0.2:443 -servername library.example.edu
cl timeout 3 openssl s_client -connect 10.99.0.2:443 -servername c2.botnet.test -tls1_2
sleep 1
kill %4 %5 2>/dev/null; sleep 0.5; kill %1 %2 %3 2>/dev/null || true
wait 2>/dev/null || true
tshark -r real-clients.pcap -F pcapng -w real-clients.pcapng
rm -rf $tmp
ls -la real-clients*
