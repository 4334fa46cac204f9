package pcapgen

// quic sends a QUIC client Initial flight; until the sealer lands it is a
// bulk session.
func (g *Generator) quic(c *conn) error { return g.bulk(c) }
