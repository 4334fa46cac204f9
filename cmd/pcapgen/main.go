// Command pcapgen writes a synthetic capture of campus-like traffic (DNS,
// TLS, HTTP, QUIC, bulk TCP, tunnels) for campusguard's tests and
// benchmarks, so no large capture has to live in git.
//
//	pcapgen -packets 2000000 -out /tmp/mixed.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/campusguard/campusguard/capture/pcapgen"
)

func main() {
	packets := flag.Int("packets", 100000, "about how many frames to write")
	out := flag.String("out", "", "output file (pcap)")
	seed := flag.Uint64("seed", 1, "random seed; the same seed gives the same capture")
	tunnels := flag.Float64("tunnels", 0.1, "share of connections inside a tunnel (VLAN, QinQ, MPLS, PPPoE, ERSPAN, VXLAN)")
	noQUIC := flag.Bool("no-quic", false, "leave QUIC out")
	client := flag.String("client", "", "make every connection this host's (an IPv4 or IPv6 address), as one machine that keeps coming back")
	names := flag.String("names", "", "comma-separated host names the sessions use (default: a built-in mix of benign and example-rule names)")
	gap := flag.Duration("gap", 0, "traffic time between sessions (default: back to back)")
	truth := flag.String("truth", "", "also write the expected events, one \"FRAME KIND NAME\" a line, to this file")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: pcapgen -out FILE.pcap [-packets N] [-seed N] [-tunnels F] [-truth FILE]")
		os.Exit(2)
	}
	cfg := pcapgen.Config{Seed: *seed, Packets: *packets, Tunnels: *tunnels, NoQUIC: *noQUIC, Gap: *gap}
	if *client != "" {
		if cfg.Client = net.ParseIP(*client); cfg.Client == nil {
			fmt.Fprintf(os.Stderr, "pcapgen: -client %q: not an IP address\n", *client)
			os.Exit(2)
		}
	}
	if *names != "" {
		cfg.Names = strings.Split(*names, ",")
	}
	if err := run(*out, *truth, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pcapgen:", err)
		os.Exit(1)
	}
}

func run(out, truthPath string, cfg pcapgen.Config) error {
	events, err := pcapgen.WriteFile(out, cfg)
	if err != nil || truthPath == "" {
		return err
	}
	tf, err := os.Create(truthPath)
	if err != nil {
		return err
	}
	tw := bufio.NewWriter(tf)
	for _, e := range events {
		fmt.Fprintf(tw, "%d %s %s\n", e.Frame, e.Kind, e.Name)
	}
	if err := tw.Flush(); err != nil {
		tf.Close()
		return err
	}
	return tf.Close()
}
