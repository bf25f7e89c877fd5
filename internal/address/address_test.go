package address

import (
	"net/netip"
	"testing"
)

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.org":                       "example.org",
		"<alice@example.org>":                     "example.org",
		"<alice@Example.ORG.>":                    "example.org",
		" <alice@example.org> ":                   "example.org",
		"<@relay.example,@b.example:a@d.example>": "d.example",
		`"a@b"@example.org`:                       "example.org",
		`"a\"@b"@example.org`:                     "example.org",
		"a@b@example.org":                         "example.org",
		"":                                        "",
		"<>":                                      "",
		"postmaster":                              "",
		"alice@":                                  "",
		"alice@.":                                 "",
		"alice@[192.0.2.1]":                       "",
		`"a@b"`:                                   "",
	} {
		got, ok := Domain(in)
		if got != want || ok != (want != "") {
			t.Errorf("Domain(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestSplit(t *testing.T) {
	local, domain, ok := Split(`<"john@x"@example.org>`)
	if !ok || local != `"john@x"` || domain != "example.org" {
		t.Errorf("Split = %q, %q, %v", local, domain, ok)
	}
}

func TestLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"[192.0.2.1]":             "192.0.2.1",
		"[IPv6:2001:db8::1]":      "2001:db8::1",
		"[ipv6:::ffff:192.0.2.1]": "192.0.2.1",
		"[2001:db8::1]":           "",
		"[IPv6:192.0.2.1]":        "",
		"[192.0.2.256]":           "",
		"[IPv6:fe80::1%eth0]":     "",
		"192.0.2.1":               "",
		"[tag:text]":              "",
		"[]":                      "",
	} {
		got, ok := Literal(in)
		if ok != (want != "") || ok && got != netip.MustParseAddr(want) {
			t.Errorf("Literal(%q) = %v, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzDomain(f *testing.F) {
	for _, s := range []string{"<a@b.example>", `"@"@x`, "@a:b@c", "[1.2.3.4]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := Domain(s)
		if ok == (d == "") {
			t.Fatalf("Domain(%q) = %q, %v", s, d, ok)
		}
		_, _ = Literal(s)
	})
}
