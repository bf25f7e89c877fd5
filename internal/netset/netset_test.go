package netset

import (
	"net/netip"
	"testing"
)

func TestContains(t *testing.T) {
	s := New([]netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("::ffff:198.51.100.0/120"), // mapped: 198.51.100.0/24
		netip.MustParsePrefix("2001:db8::1/64"),          // not masked
		{},                                               // invalid: left out
	})
	if len(s) != 3 {
		t.Fatalf("%d networks, want 3: %v", len(s), s)
	}
	for _, c := range []struct {
		ip   string
		want bool
	}{
		{"192.0.2.7", true},
		{"::ffff:192.0.2.7", true},
		{"198.51.100.9", true},
		{"::ffff:198.51.100.9", true},
		{"2001:db8::abcd", true},
		{"fe80::1%eth0", false},
		{"203.0.113.1", false},
		{"2001:db9::1", false},
	} {
		if got := s.Contains(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Contains(%s) = %v", c.ip, got)
		}
	}
	if (Set)(nil).Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("an empty set contains an address")
	}
}

func TestPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"192.0.2.1": true, "8.8.8.8": true, "::ffff:8.8.8.8": true, "2001:db8::1": true,
		"10.1.2.3": false, "100.64.0.1": false, "127.0.0.1": false, "fd00::1": false,
		"fe80::1": false, "::1": false, "0.0.0.0": false, "224.0.0.1": false,
	} {
		if got := Public(netip.MustParseAddr(s)); got != want {
			t.Errorf("Public(%s) = %v", s, got)
		}
	}
}
