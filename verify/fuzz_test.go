package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// FuzzAddress feeds client-written addresses to every entry point that
// reads one: CheckSenderDomain, Callout.Verify (toward a closed port, so a
// probe fails at once) and the table check. Nothing panics; reasons are one
// printable line of at most 2×MaxReason; a TempError never demands Reject;
// an address the probe cannot carry (CR, LF, space, angle brackets,
// non-ASCII in the local part) is never probed.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"joe@example.org", "<joe@example.org>", "", "<>", "not-an-address", "joe@[192.0.2.1]",
		"<@a.example,@b.example:joe@example.org>", "\"a b\"@example.org", "joe\r\nRCPT TO:<x>@example.org",
		"joe@nomail.example.org", "j\xc3\xb6e@example.org", "joe@bad..example.org", strings.Repeat("a", 300) + "@example.org",
	} {
		f.Add(s)
	}
	r := resolvertest.MustNew(`$ORIGIN example.org.
@      MX 10 mail
mail   A  192.0.2.10
nomail MX 0 .
*      MX 10 mail
`)
	l := listen(f, "127.0.0.5")
	closed := l.Addr().String()
	l.Close()
	c := &Callout{Resolver: r, Timeout: time.Second, Route: func(d string) []string { return []string{closed} }}
	tab := NewTable(MapLookup([]string{"joe@example.org"}), &Options{Reject: true, Defer: true})
	f.Fuzz(func(t *testing.T, addr string) {
		ctx := context.Background()
		results := []verdict.Result{
			CheckSenderDomain(ctx, r, addr, nil),
			c.Verify(ctx, addr),
			tab.Evaluate(ctx, addr),
		}
		for _, res := range results {
			if len(res.Reason) > 2*verdict.MaxReason || strings.IndexFunc(res.Reason, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
				t.Fatalf("%s reason %q", res.Check, res.Reason)
			}
			if res.Status == verdict.TempError && res.Action == verdict.Reject {
				t.Fatalf("%s: temperror demands reject", res.Check)
			}
		}
		v := results[1]
		if v.Status != verdict.None && v.Status != verdict.TempError {
			t.Fatalf("verify toward a closed port: %+v", v)
		}
		// The domain goes out as an A-label (IDNA), the local part as it is.
		if local, _, _ := address.Split(strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")); v.Status == verdict.TempError && strings.IndexFunc(local, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '<' || r == '>' }) >= 0 {
			t.Fatalf("probed %q", addr)
		}
	})
}
