package spf

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The examples of RFC 7208 §7.4.
func TestExpandRFCExamples(t *testing.T) {
	env := macroEnv{
		sender: "strong-bad@email.example.com",
		domain: "email.example.com",
		ip:     netip.MustParseAddr("192.0.2.3"),
		helo:   "mx.example.org",
	}
	tests := map[string]string{
		"%{s}":                              "strong-bad@email.example.com",
		"%{o}":                              "email.example.com",
		"%{d}":                              "email.example.com",
		"%{d4}":                             "email.example.com",
		"%{d3}":                             "email.example.com",
		"%{d2}":                             "example.com",
		"%{d1}":                             "com",
		"%{dr}":                             "com.example.email",
		"%{d2r}":                            "example.email",
		"%{l}":                              "strong-bad",
		"%{l-}":                             "strong.bad",
		"%{lr}":                             "strong-bad",
		"%{lr-}":                            "bad.strong",
		"%{l1r-}":                           "strong",
		"%{ir}.%{v}._spf.%{d2}":             "3.2.0.192.in-addr._spf.example.com",
		"%{lr-}.lp._spf.%{d2}":              "bad.strong.lp._spf.example.com",
		"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}":   "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
		"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}":  "3.2.0.192.in-addr.strong.lp._spf.example.com",
		"%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
		"%{h}":                              "mx.example.org",
		"%{p}":                              "unknown",
		"%%%_%-":                            "% %20",
		"%{d00002}":                         "example.com",
		"%{d99999999999999999999}":          "email.example.com",
	}
	for in, want := range tests {
		if got, err := env.expand(in, false); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	env.ip = netip.MustParseAddr("2001:db8::cb01")
	want := "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
	if got, err := env.expand("%{ir}.%{v}._spf.%{d2}", false); err != nil || got != want {
		t.Errorf("IPv6: got %q, %v; want %q", got, err, want)
	}
}

func TestExpandExplanation(t *testing.T) {
	env := macroEnv{
		sender:   "~jack&jill=up-a_b3.c@example.com",
		domain:   "example.com",
		ip:       netip.MustParseAddr("2001:db8::1"),
		receiver: "mx.example.net",
		now:      time.Unix(1234567890, 0),
	}
	tests := map[string]string{
		"%{c} %{r} %{t}": "2001:db8::1 mx.example.net 1234567890",
		// Upper-case letters URL-escape all but RFC 3986's unreserved.
		"http://example.com/why.html?l=%{L}": "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c",
		"%{S}":                               "~jack%26jill%3Dup-a_b3.c%40example.com",
		"plain text":                         "plain text",
	}
	for in, want := range tests {
		if got, err := env.expand(in, true); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	env.receiver = ""
	if got, _ := env.expand("%{r}", true); got != "unknown" {
		t.Errorf("no receiver: %q", got)
	}
	if got, _ := env.expand(strings.Repeat("%{s}", 1000), true); len(got) != maxExpansion {
		t.Errorf("long explanation: %d bytes", len(got))
	}
}

func TestExpandErrors(t *testing.T) {
	env := macroEnv{sender: "a@example.com", domain: "example.com", ip: netip.MustParseAddr("192.0.2.3")}
	for _, in := range []string{
		"%", "%x", "%{", "%{d", "%{}", "%{x}", "%{d0}", "%{d2x}", "%{d2rr}", "%{d*}",
		"%{c}", "%{r}", "%{t}", // only in explanations
		"a b",         // spaces only in explanations
		"caf\xc3\xa9", // 7-bit only
		strings.Repeat("%{s}", 1000),
	} {
		if got, err := env.expand(in, false); err == nil {
			t.Errorf("%q: got %q, want an error", in, got)
		}
	}
	for _, in := range []string{"%{x}", "%", "caf\xc3\xa9", "a\tb"} {
		if got, err := env.expand(in, true); err == nil {
			t.Errorf("explanation %q: got %q, want an error", in, got)
		}
	}
}

func TestTruncateName(t *testing.T) {
	long := strings.Repeat("abcdefghi.", 30) + "example.com"
	got := truncateName(long)
	if len(got) > 253 || !strings.HasSuffix(long, got) || strings.HasPrefix(got, ".") {
		t.Errorf("got %d bytes: %q", len(got), got)
	}
	if got := truncateName("example.com."); got != "example.com" {
		t.Errorf("got %q", got)
	}
	if got := truncateName(strings.Repeat("x", 300)); got != "" {
		t.Errorf("one long label: %q", got)
	}
}
