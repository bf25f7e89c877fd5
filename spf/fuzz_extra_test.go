package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// clientZone is a sender domain with an SPF record whose explanation
// quotes the client's HELO and sender, a null-MX domain, and a wildcard
// so that many fuzzed names exist.
const clientZone = `$ORIGIN example.org.
@        TXT  "v=spf1 a:mail.example.org -all exp=exp.example.org"
@        MX   10 mail
mail     A    192.0.2.10
exp      TXT  "not allowed: helo=%{h} sender=%{s} local=%{l} domain=%{o}"
*        TXT  "v=spf1 redirect=example.org"
*        MX   10 mail
nomail.example.net. MX 0 .
`

// printable drops bytes that are not printable ASCII.
func printable(r rune) rune {
	if r < 0x20 || r > 0x7e {
		return -1
	}
	return r
}

// FuzzClientIdentity feeds the client's own words, its HELO name and MAIL
// FROM address, to every entry point that reads them: Check, CheckHelo
// and ReceivedSPF. Whatever they are, nothing panics, every reason is
// one printable line of at most twice MaxReason, a result demands nothing
// but what its status allows, and the Received-SPF value is one printable
// line with balanced quotes and no ';' inside them.
func FuzzClientIdentity(f *testing.F) {
	for _, s := range [][2]string{
		{"mail.example.org", "joe@example.org"},
		{"mail.example.org", ""},
		{"x.example.org", "joe@x.example.org"},
		{"[192.0.2.10]", "<joe@example.org>"},
		{"evil\r\nX: y", "\"a;b\\\"c\"@example.org"},
		{"a b c", "joe@nomail.example.net"},
		{"", "@route.example:joe@example.org"},
		{"bücher.example", "jöe@bücher.example"},
		{"%{s}", "%{h}@example.org"},
	} {
		f.Add(s[0], s[1])
	}
	r := resolvertest.MustNew(clientZone)
	ip := netip.MustParseAddr("203.0.113.9")
	f.Fuzz(func(t *testing.T, helo, mailFrom string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		results := []verdict.Result{
			Check(ctx, r, ip, helo, mailFrom),
			CheckHelo(ctx, r, ip, helo),
		}
		for _, res := range results {
			// A reason quotes at most a Printable-sized piece of client
			// text, with some words around it.
			if len(res.Reason) > 2*verdict.MaxReason || strings.Map(printable, res.Reason) != res.Reason {
				t.Fatalf("%s reason %q", res.Check, res.Reason)
			}
			if res.Status == verdict.TempError && res.Action == verdict.Reject {
				t.Fatalf("%s: temperror demands reject", res.Check)
			}
			if res.Check == Name && res.Action != verdict.Accept {
				t.Fatalf("spf with default options demands %v", res.Action)
			}
		}
		for _, res := range results[:2] {
			v := ReceivedSPF(res, ip, helo, mailFrom, "mx.example.net")
			quoted := false
			for i := 0; i < len(v); i++ {
				switch c := v[i]; {
				case c < 0x20 || c > 0x7e:
					t.Fatalf("byte %#x in %q", c, v)
				case c == '"':
					quoted = !quoted
				case c == ';' && quoted:
					t.Fatalf("';' in a quoted string: %q", v)
				}
			}
			if quoted || !strings.Contains(v, " client-ip=203.0.113.9; ") {
				t.Fatalf("Received-SPF %q", v)
			}
		}
	})
}
