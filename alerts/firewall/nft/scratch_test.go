package nft

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/google/nftables"
)

func ip4(a, b, c, d byte) []byte { return []byte{a, b, c, d} }

func dump(t *testing.T, c *nftables.Conn, s *nftables.Set) {
	els, err := c.GetSetElements(s)
	if err != nil {
		t.Logf("dump err %v", err)
		return
	}
	for _, e := range els {
		t.Logf("  key=%v end=%v timeout=%v expires=%v", e.Key, e.IntervalEnd, e.Timeout, e.Expires)
	}
	out, _ := exec.Command("nft", "list", "set", "inet", "x", "s").CombinedOutput()
	t.Logf("%s", out)
}

func TestScratch(t *testing.T) {
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: "x", Family: nftables.TableFamilyINet})
	s := &nftables.Set{Table: tb, Name: "s", KeyType: nftables.TypeIPAddr, Interval: true, HasTimeout: true}
	if err := c.AddSet(s, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	try := func(name string, f func()) {
		f()
		err := c.Flush()
		t.Logf("== %s: err=%v", name, err)
		dump(t, c, s)
	}
	try("add with timeout on both", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 0, 0, 0), Timeout: 10 * time.Second}, {Key: ip4(10, 0, 1, 0), IntervalEnd: true}})
	})
	try("add no timeout on end (dup)", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 1, 0, 0), Timeout: 10 * time.Second}, {Key: ip4(10, 1, 1, 0), IntervalEnd: true}})
	})
	try("re-add longer timeout", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 0, 0, 0), Timeout: 100 * time.Second}, {Key: ip4(10, 0, 1, 0), IntervalEnd: true}})
	})
	try("del+add same batch", func() {
		c.SetDeleteElements(s, []nftables.SetElement{{Key: ip4(10, 1, 0, 0)}, {Key: ip4(10, 1, 1, 0), IntervalEnd: true}})
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 1, 0, 0), Timeout: 200 * time.Second}, {Key: ip4(10, 1, 1, 0), IntervalEnd: true}})
	})
	try("overlap 10.0.0.5", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 0, 0, 5), Timeout: 10 * time.Second}, {Key: ip4(10, 0, 0, 6), IntervalEnd: true}})
	})
	try("adjacent 10.0.1.0/24", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 0, 1, 0), Timeout: 10 * time.Second}, {Key: ip4(10, 0, 2, 0), IntervalEnd: true}})
	})
	try("split: del 10.1.0.0/24, add 3 pieces same batch", func() {
		c.SetDeleteElements(s, []nftables.SetElement{{Key: ip4(10, 1, 0, 0)}, {Key: ip4(10, 1, 1, 0), IntervalEnd: true}})
		c.SetAddElements(s, []nftables.SetElement{
			{Key: ip4(10, 1, 0, 0), Timeout: 20 * time.Second}, {Key: ip4(10, 1, 0, 5), IntervalEnd: true},
			{Key: ip4(10, 1, 0, 5), Timeout: 50 * time.Second}, {Key: ip4(10, 1, 0, 6), IntervalEnd: true},
			{Key: ip4(10, 1, 0, 6), Timeout: 20 * time.Second}, {Key: ip4(10, 1, 1, 0), IntervalEnd: true},
		})
	})
	try("top of space, no end", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(255, 255, 255, 0), Timeout: 10 * time.Second}})
	})
	try("short 1s element", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 9, 0, 0), Timeout: 1 * time.Second}, {Key: ip4(10, 9, 0, 1), IntervalEnd: true}})
	})
	time.Sleep(1500 * time.Millisecond)
	try("after expiry: delete expired", func() {
		c.SetDeleteElements(s, []nftables.SetElement{{Key: ip4(10, 9, 0, 0)}, {Key: ip4(10, 9, 0, 1), IntervalEnd: true}})
	})
	try("after expiry: re-add expired", func() {
		c.SetAddElements(s, []nftables.SetElement{{Key: ip4(10, 9, 0, 0), Timeout: 5 * time.Second}, {Key: ip4(10, 9, 0, 1), IntervalEnd: true}})
	})
	try("delete missing", func() {
		c.SetDeleteElements(s, []nftables.SetElement{{Key: ip4(10, 77, 0, 0)}, {Key: ip4(10, 77, 0, 1), IntervalEnd: true}})
	})
	fmt.Println()
}
