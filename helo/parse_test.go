package helo_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in     string
		kind   helo.Kind
		domain string
		addr   string
	}{
		{"mail.example.com", helo.Domain, "mail.example.com", ""},
		{"MAIL.Example.com.", helo.Domain, "mail.example.com", ""},
		{"ylmf-pc", helo.Domain, "ylmf-pc", ""},
		{"bücher.example", helo.Domain, "xn--bcher-kva.example", ""},
		{"[192.0.2.1]", helo.Literal, "", "192.0.2.1"},
		{"[IPv6:2001:db8::1]", helo.Literal, "", "2001:db8::1"},
		{"[IPV6:::ffff:192.0.2.1]", helo.Literal, "", "::ffff:192.0.2.1"},
		{"192.0.2.1", helo.BareIP, "", "192.0.2.1"},
		{"2001:db8::1", helo.BareIP, "", "2001:db8::1"},
		{"ipv6:2001:db8::1", helo.BareIP, "", "2001:db8::1"},
		{"", helo.Invalid, "", ""},
		{"[]", helo.Invalid, "", ""},
		{"[192.0.2.1", helo.Invalid, "", ""},
		{"[192.0.2.256]", helo.Invalid, "", ""},
		{"[2001:db8::1]", helo.Invalid, "", ""},
		{"[IPv6:192.0.2.1]", helo.Invalid, "", ""},
		{"[IPv6:fe80::1%eth0]", helo.Invalid, "", ""},
		{"[x400:c=us]", helo.Invalid, "", ""},
		{"fe80::1%eth0", helo.Invalid, "", ""},
		{"a\tb", helo.Invalid, "", ""},
		{"a\x7fb.example", helo.Invalid, "", ""},
		{"mail.example.com\r\n", helo.Invalid, "", ""},
		{"a..b", helo.Invalid, "", ""},
		{"1.2.3.4.", helo.Invalid, "", ""},
		{strings.Repeat("a", 256), helo.Invalid, "", ""},
	} {
		n, err := helo.Parse(c.in)
		var addr netip.Addr
		if c.addr != "" {
			addr = netip.MustParseAddr(c.addr)
		}
		if n.Kind != c.kind || n.Domain != c.domain || n.Addr != addr || (err != nil) != (c.kind == helo.Invalid) {
			t.Errorf("Parse(%q) = %+v, %v; want %v %q %v", c.in, n, err, c.kind, c.domain, addr)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[helo.Kind]string{helo.Invalid: "invalid", helo.Domain: "domain", helo.Literal: "literal", helo.BareIP: "bare-ip", 9: "kind?"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"mail.example.com", "[192.0.2.1]", "[IPv6:2001:db8::1]", "192.0.2.1",
		"IPv6:::1", "bücher.example", "localhost", "a\r\nb", "[x:y]", "[", "-a.b", "mx.example.com."} {
		f.Add(s)
	}
	r := resolvertest.MustNew("")
	ip := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := helo.Parse(s)
		switch {
		case (err != nil) != (n.Kind == helo.Invalid):
			t.Fatalf("Parse(%q) = %+v, %v", s, n, err)
		case n.Kind == helo.Domain:
			if n.Domain == "" || strings.ToLower(n.Domain) != n.Domain || verdict.Printable(n.Domain) != n.Domain {
				t.Fatalf("Parse(%q): domain %q not normalized", s, n.Domain)
			}
			if again, err := helo.Parse(n.Domain); err != nil || again != n {
				t.Fatalf("Parse(%q) = %+v, but its domain parses as %+v, %v", s, n, again, err)
			}
		case n.Kind == helo.Literal || n.Kind == helo.BareIP:
			if !n.Addr.IsValid() || n.Addr.Zone() != "" {
				t.Fatalf("Parse(%q): address %v", s, n.Addr)
			}
		}
		res := helo.Check(context.Background(), r, ip, s, nil)
		if verdict.Printable(res.Reason) != res.Reason || res.Action != verdict.Accept {
			t.Fatalf("Check(%q): reason %q, action %v", s, res.Reason, res.Action)
		}
	})
}
