package screen

import (
	"bufio"
	"net"
	"net/netip"

	"github.com/mtaguard/mtaguard/verdict"
)

// Conn is a connection the screen let through. Its RemoteAddr is the
// client's address (from the PROXY header when a proxy sent one), and
// reading it returns first what the client sent during the screening.
type Conn struct {
	net.Conn
	r        *bufio.Reader // what was read ahead; nil once drained
	client   netip.AddrPort
	proxied  bool
	findings Test
	how      string // why the tests were skipped: "cached", "allow list"
	scores   *Scores
}

// Read reads what the client sent during the screening, then from the
// connection. Like net.Conn's, it is not for two goroutines at once.
func (c *Conn) Read(b []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil
	}
	return c.Conn.Read(b)
}

// RemoteAddr returns the client's address: the PROXY header's source
// when the connection came through a trusted proxy.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.proxied {
		return c.Conn.RemoteAddr()
	}
	return net.TCPAddrFromAddrPort(c.client)
}

// Client returns the client's address and port.
func (c *Conn) Client() netip.AddrPort { return c.client }

// Proxied reports whether the client address came from a PROXY header.
func (c *Conn) Proxied() bool { return c.proxied }

// Findings returns the tests the client failed and was let through all
// the same (see Ignore): a pregreet in this connection, or findings
// noted with the cached passes.
func (c *Conn) Findings() Test { return c.findings }

// Result returns the findings as a verdict.Result, scored with the
// Listener's Scores: see the package function Result.
func (c *Conn) Result() verdict.Result { return c.scores.result(c.findings, c.how) }

// Results returns Result in a slice, for the server to append to the
// session's results before it evaluates the Connect stage (the same
// method as package limit's connections have).
func (c *Conn) Results() []verdict.Result { return []verdict.Result{c.Result()} }
