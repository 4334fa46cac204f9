package pcapgen

import (
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsPair builds a query for name and its answer: some answers follow a
// CNAME chain, some are NXDOMAIN.
func (g *Generator) dnsPair(name string) (query, response []byte) {
	id := uint16(g.rng.Uint32())
	qtype := dnsmessage.TypeA
	switch g.rng.IntN(5) {
	case 0:
		qtype = dnsmessage.TypeAAAA
	case 1:
		qtype = dnsmessage.TypeHTTPS
	}
	q := dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: qtype, Class: dnsmessage.ClassINET}
	query = mustPack(dnsmessage.Message{Header: dnsmessage.Header{ID: id, RecursionDesired: true}, Questions: []dnsmessage.Question{q}})
	resp := dnsmessage.Message{Header: dnsmessage.Header{ID: id, Response: true, RecursionDesired: true, RecursionAvailable: true}, Questions: []dnsmessage.Question{q}}
	if g.rng.IntN(10) == 0 {
		resp.Header.RCode = dnsmessage.RCodeNameError
		return query, mustPack(resp)
	}
	owner := q.Name
	if g.rng.IntN(3) == 0 {
		// CNAME chain through a CDN name (and now and then a listed one).
		target := "edge.cdn.example.net."
		if g.rng.IntN(4) == 0 {
			target = g.name() + "."
		}
		t := dnsmessage.MustNewName(target)
		resp.Answers = append(resp.Answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: owner, Type: dnsmessage.TypeCNAME, Class: dnsmessage.ClassINET, TTL: 300},
			Body:   &dnsmessage.CNAMEResource{CNAME: t}})
		owner = t
	}
	switch qtype {
	case dnsmessage.TypeA:
		resp.Answers = append(resp.Answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: owner, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
			Body:   &dnsmessage.AResource{A: [4]byte{198, 51, 100, byte(g.rng.IntN(250))}}})
	case dnsmessage.TypeAAAA:
		resp.Answers = append(resp.Answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: owner, Type: dnsmessage.TypeAAAA, Class: dnsmessage.ClassINET, TTL: 60},
			Body:   &dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("2001:db8:100::7").As16()}})
	}
	return query, mustPack(resp)
}

// bigResponse answers name with enough TXT data to need IP fragments.
func (g *Generator) bigResponse(name string) []byte {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET}
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: uint16(g.rng.Uint32()), Response: true}, Questions: []dnsmessage.Question{q}}
	for i := 0; i < 12; i++ {
		txt := make([]byte, 200)
		for j := range txt {
			txt[j] = 'a' + byte(g.rng.IntN(26))
		}
		m.Answers = append(m.Answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, TTL: 60},
			Body:   &dnsmessage.TXTResource{TXT: []string{string(txt)}}})
	}
	return mustPack(m)
}

func mustPack(m dnsmessage.Message) []byte {
	b, err := m.Pack()
	if err != nil {
		panic("pcapgen: " + err.Error()) // only fixed, valid messages are built
	}
	return b
}
