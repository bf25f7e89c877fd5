package screen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func v2(cmd, fam byte, body []byte) []byte {
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(body)))
	return append(b, body...)
}

func v2tcp4(src, dst string, sp, dp uint16, tlv []byte) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	body := append(append(s[:], d[:]...), byte(sp>>8), byte(sp), byte(dp>>8), byte(dp))
	return v2(1, 0x11, append(body, tlv...))
}

func TestReadProxyHeader(t *testing.T) {
	ap := netip.MustParseAddrPort
	s6, d6 := netip.MustParseAddr("2001:db8::1").As16(), netip.MustParseAddr("2001:db8::2").As16()
	v6body := append(append(s6[:], d6[:]...), 0x30, 0x39, 0, 25)
	for _, tc := range []struct {
		in   string
		want ProxyHeader
		err  bool
	}{
		{in: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", want: ProxyHeader{Source: ap("192.0.2.1:56324"), Dest: ap("198.51.100.2:25")}},
		{in: "PROXY TCP6 2001:db8::1 2001:db8::2 12345 25\r\n", want: ProxyHeader{Source: ap("[2001:db8::1]:12345"), Dest: ap("[2001:db8::2]:25")}},
		{in: "PROXY UNKNOWN\r\n", want: ProxyHeader{Local: true}},
		{in: "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", want: ProxyHeader{Local: true}},
		{in: string(v2tcp4("192.0.2.1", "198.51.100.2", 56324, 25, nil)), want: ProxyHeader{Source: ap("192.0.2.1:56324"), Dest: ap("198.51.100.2:25")}},
		{in: string(v2tcp4("192.0.2.1", "198.51.100.2", 1, 25, []byte{0x04, 0, 1, 'x'})), want: ProxyHeader{Source: ap("192.0.2.1:1"), Dest: ap("198.51.100.2:25")}},
		{in: string(v2(1, 0x21, v6body)), want: ProxyHeader{Source: ap("[2001:db8::1]:12345"), Dest: ap("[2001:db8::2]:25")}},
		{in: string(v2(0, 0x11, nil)), want: ProxyHeader{Local: true}},
		{in: string(v2(1, 0x00, nil)), want: ProxyHeader{Local: true}},

		{in: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n", err: true},
		{in: "PROXY TCP4 2001:db8::1 198.51.100.2 1 25\r\n", err: true},
		{in: "PROXY TCP6 192.0.2.1 2001:db8::2 1 25\r\n", err: true},
		{in: "PROXY TCP4 192.0.2.1 198.51.100.2 065535 25\r\n", err: true},
		{in: "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", err: true},
		{in: "PROXY TCP4 192.0.2.1  198.51.100.2 1 25\r\n", err: true},
		{in: "PROXY TCP4 fe80::1%eth0 198.51.100.2 1 25\r\n", err: true},
		{in: "PROXY UDP4 192.0.2.1 198.51.100.2 1 25\r\n", err: true},
		{in: "PROXY TCP4 192.0.2.1 198.51.100.2 1 25", err: true},
		{in: "PROXY " + strings.Repeat("x", 200) + "\r\n", err: true},
		{in: "EHLO x\r\n", err: true},
		{in: "", err: true},
		{in: string(v2(1, 0x12, make([]byte, 12))), err: true},  // UDP
		{in: string(v2(1, 0x31, make([]byte, 216))), err: true}, // UNIX
		{in: string(v2(2, 0x11, make([]byte, 12))), err: true},  // unknown command
		{in: string(v2(1, 0x11, make([]byte, 11))), err: true},  // short
		{in: string(v2(1, 0x21, make([]byte, 35))), err: true},
		{in: string(v2tcp4("192.0.2.1", "198.51.100.2", 1, 25, nil)[:20]), err: true},
		{in: string(append(v2(1, 0x11, nil)[:14], 0xff, 0xff)), err: true}, // too long
		{in: "\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x00", err: true},
	} {
		r := bufio.NewReader(strings.NewReader(tc.in + "REST"))
		h, err := ReadProxyHeader(r)
		if (err != nil) != tc.err || err == nil && h != tc.want {
			t.Errorf("%q: %+v %v", tc.in, h, err)
			continue
		}
		if err == nil {
			// Nothing beyond the header is read.
			if rest, _ := io.ReadAll(r); string(rest) != "REST" {
				t.Errorf("%q: left %q", tc.in, rest)
			}
		}
	}
}

// TestProxyListener: from a configured proxy, the client address is the
// header's (cache, findings and RemoteAddr all use it); the header is not
// passed on; elsewhere, a header is just early talk; a proxy that sends
// nothing is cut off at the timeout.
func TestProxyListener(t *testing.T) {
	s := newServer(t, &Options{Proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, ProxyTimeout: 300 * time.Millisecond, Disable: DeepTests})
	for _, hdr := range []string{
		"PROXY TCP4 192.0.2.7 198.51.100.2 40000 25\r\n",
		string(v2tcp4("192.0.2.8", "198.51.100.2", 40001, 25, nil)),
	} {
		c := s.dial(t)
		c.send(hdr)
		c.expect("220-mx.test ESMTP|220 real.test")
		conn := s.handed(t)
		want := "192.0.2.7:40000"
		if hdr[0] != 'P' {
			want = "192.0.2.8:40001"
		}
		if conn.RemoteAddr().String() != want || !conn.Proxied() || conn.Findings() != 0 {
			t.Errorf("remote %v proxied %v findings %v", conn.RemoteAddr(), conn.Proxied(), conn.Findings())
		}
		c.send("EHLO x\r\n")
		if l, _ := bufio.NewReader(conn).ReadString('\n'); l != "EHLO x\r\n" {
			t.Errorf("server read %q", l)
		}
	}
	// The pass was cached for the header's address, not the proxy's.
	c := s.dial(t)
	c.send("PROXY TCP4 192.0.2.7 198.51.100.2 40002 25\r\n")
	c.expect("220 real.test")
	s.handed(t)
	c = s.dial(t)
	c.send("PROXY TCP4 192.0.2.9 198.51.100.2 40002 25\r\n")
	c.expect("220-mx.test ESMTP|220 real.test")
	s.handed(t)

	// Hostile proxies: a bad header, a silent one, a slow endless one.
	for _, hdr := range []string{"GARBAGE\r\n", "", "PROXY TCP4 192.0.2.1"} {
		c := s.dial(t)
		c.send(hdr)
		start := time.Now()
		if l, err := c.r.ReadString('\n'); err == nil {
			t.Errorf("%q: got %q", hdr, l)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%q: closed after %v", hdr, d)
		}
	}
	s.none(t)

	// Not from a proxy: a header is talk before the greeting.
	s2 := newServer(t, &Options{Proxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Disable: DeepTests})
	c = s2.dial(t)
	c.send("PROXY TCP4 192.0.2.7 198.51.100.2 40000 25\r\n")
	c.expect("220-mx.test ESMTP|220 real.test")
	conn := s2.handed(t)
	if conn.Findings() != Pregreet || conn.Proxied() || addrPort(conn.RemoteAddr()).Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("findings %v proxied %v remote %v", conn.Findings(), conn.Proxied(), conn.RemoteAddr())
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 12345 25\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2tcp4("192.0.2.1", "198.51.100.2", 1, 25, []byte{0x04, 0, 1, 'x'}))
	f.Add(v2(1, 0x21, make([]byte, 36)))
	f.Add(v2(0, 0x00, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		cr := &countReader{r: bytes.NewReader(in)}
		r := bufio.NewReaderSize(cr, 16)
		h, err := ReadProxyHeader(r)
		if cr.n > 16+maxProxyV2+16 {
			t.Fatalf("read %d bytes", cr.n)
		}
		if err != nil {
			return
		}
		used := cr.n - r.Buffered()
		if h.Local {
			if h.Source.IsValid() || h.Dest.IsValid() {
				t.Fatalf("local with addresses: %+v", h)
			}
			return
		}
		// v2 TCP6 may carry IPv4-mapped addresses: they are unmapped, so
		// the families of Source and Dest may differ.
		if !h.Source.IsValid() || !h.Dest.IsValid() || h.Source.Addr().Is4In6() || h.Dest.Addr().Is4In6() || h.Source.Addr().Zone() != "" {
			t.Fatalf("addresses %+v", h)
		}
		if in[0] == 'P' && (used > maxProxyV1 || !bytes.HasSuffix(in[:used], []byte("\r\n"))) {
			t.Fatalf("v1 header of %d bytes: %q", used, in[:used])
		}
	})
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}
