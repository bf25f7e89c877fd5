package spf

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// BenchmarkCheck measures a typical evaluation (an include, an mx, then
// -all; five lookups) against an in-memory zone with no latency: the cost
// of the package and the library, without the network's.
func BenchmarkCheck(b *testing.B) {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@          TXT "v=spf1 include:_spf.example.net mx -all exp=why.example.org"
@          MX  10 mx
mx         A   192.0.2.25
why        TXT "%{i} is not a mail server of %{d}"
_spf.example.net. TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all"
`)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		ip   netip.Addr
	}{
		{"pass", netip.MustParseAddr("192.0.2.25")},
		{"fail", netip.MustParseAddr("203.0.113.9")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r.ResetQueries()
			b.ReportAllocs()
			for b.Loop() {
				Check(ctx, r, bc.ip, "mx.example.org", "joe@example.org")
			}
			b.ReportMetric(float64(r.TotalQueries())/float64(b.N), "queries/op")
		})
	}
}

func BenchmarkParseRecord(b *testing.B) {
	const rec = "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.%{d2} a:mail.example.org/28 mx//64 exists:%{ir}.%{v}.bl.example.org redirect=_spf.example.org"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}
