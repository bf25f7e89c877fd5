package screen

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// benchConnect measures a client's connection through l to the server's
// first reply: the cost per connection of what is in front of the server.
func benchConnect(b *testing.B, l net.Listener, dialAddr string, pre []byte) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 real.test ESMTP\r\n"))
			c.Close()
		}
	}()
	buf := make([]byte, 64)
	for b.Loop() {
		c, err := net.Dial("tcp", dialAddr)
		if err != nil {
			b.Fatal(err)
		}
		if pre != nil {
			c.Write(pre)
		}
		r := bufio.NewReader(c)
		if _, err := r.Read(buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkBaseline: a plain listener, the baseline of the ratios.
func BenchmarkBaseline(b *testing.B) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	defer raw.Close()
	benchConnect(b, raw, raw.Addr().String(), nil)
}

// BenchmarkCached: the screen's cost for a client with a cached pass (the
// common case of a legitimate MTA): a cache lookup and a hand-over.
func BenchmarkCached(b *testing.B) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	c := NewMemoryCache(0)
	c.Pass(context.Background(), netip.MustParseAddr("127.0.0.1"), AllTests, 0, time.Now().Add(time.Hour), time.Now())
	l := Listen(raw, &Options{Cache: c})
	defer l.Close()
	benchConnect(b, l, raw.Addr().String(), nil)
}

// BenchmarkCachedProxy: the same behind a proxy (PROXY v1 header).
func BenchmarkCachedProxy(b *testing.B) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	c := NewMemoryCache(0)
	c.Pass(context.Background(), netip.MustParseAddr("192.0.2.1"), AllTests, 0, time.Now().Add(time.Hour), time.Now())
	l := Listen(raw, &Options{Cache: c, Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	defer l.Close()
	benchConnect(b, l, raw.Addr().String(), []byte("PROXY TCP4 192.0.2.1 127.0.0.1 40000 25\r\n"))
}
