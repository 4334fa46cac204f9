package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/campusguard/campusguard/alerts"
	"github.com/campusguard/campusguard/alerts/firewall/nft"
)

var _ alerts.Enforcer = nft.Enforcer{}

// openFirewall sets up the config's nftables table.
func openFirewall(ctx context.Context, table string, opts nft.Options) (*nft.Firewall, error) {
	opts.Table = table
	f, err := nft.New(opts)
	if err != nil {
		return nil, fmt.Errorf("firewall.nftables: %w (campusguard needs CAP_NET_ADMIN for its table)", err)
	}
	if err := f.Setup(ctx); err != nil {
		f.Close()
		return nil, fmt.Errorf("firewall.nftables: table %s: %w", table, err)
	}
	return f, nil
}

func runFirewall(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const synopsis = "status | uninstall"
	if len(args) == 0 || (args[0] != "status" && args[0] != "uninstall") {
		return usageErrorf("usage: campusguard firewall %s", synopsis)
	}
	fs := newFlagSet("firewall "+args[0], synopsis, stderr)
	cfgPath := fs.String("config", "", "config file (default /etc/campusguard/campusguard.yaml if it exists)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErrorf("firewall %s takes no arguments", args[0])
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	table := cfg.Firewall.NFTables.Table
	f, err := nft.New(nft.Options{Table: table})
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer f.Close()
	switch args[0] {
	case "uninstall":
		// Only campusguard's own table goes; the package refuses a table
		// it did not create.
		if err := f.Uninstall(ctx); err != nil {
			return fmt.Errorf("nftables table %s: %w", table, err)
		}
		fmt.Fprintf(stdout, "nftables table inet %s is gone (removed, or never set up)\n", table)
	case "status":
		drops, err := f.Dropped(ctx)
		if err != nil {
			return fmt.Errorf("nftables table %s: %w (is serve running with firewall.nftables.enabled?)", table, err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOOK\tFAMILY\tDIRECTION\tPACKETS\tBYTES")
		for _, d := range drops {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", d.Hook, d.Family, d.Direction, d.Packets, d.Bytes)
		}
		return tw.Flush()
	}
	return nil
}
