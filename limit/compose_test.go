package limit_test

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/limit"
	"github.com/mtaguard/mtaguard/screen"
	"github.com/mtaguard/mtaguard/verdict"
)

// TestBehindScreen: limit.Listen outside screen.Listen counts the real
// client (from the PROXY header), and its connections carry both
// packages' results for the server's Connect stage.
func TestBehindScreen(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := screen.Listen(raw, &screen.Options{Disable: screen.AllTests, Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	l := limit.Listen(sl, limit.New(limit.NewMemory(0), &limit.Options{Rules: []limit.Rule{{Counter: limit.Connections, Max: 1}}}))
	defer l.Close()
	got := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			got <- c
		}
	}()
	dial := func(src string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("PROXY TCP4 " + src + " 198.51.100.1 40000 25\r\n"))
		return c, bufio.NewReader(c)
	}
	dial("192.0.2.7")
	first := <-got
	if first.RemoteAddr().String() != "192.0.2.7:40000" {
		t.Errorf("remote %v", first.RemoteAddr())
	}
	rs := first.(interface{ Results() []verdict.Result }).Results()
	if len(rs) != 2 || rs[0].Check != screen.Name || rs[1].Check != limit.Name {
		t.Errorf("results %+v", rs)
	}
	_, r := dial("192.0.2.7")
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "421 4.7.0 too many connections from 192.0.2.7") {
		t.Errorf("second from 192.0.2.7: %q", line)
	}
	dial("192.0.2.8")
	select {
	case c := <-got:
		if c.RemoteAddr().String() != "192.0.2.8:40000" {
			t.Errorf("remote %v", c.RemoteAddr())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("192.0.2.8 not let through")
	}
}
