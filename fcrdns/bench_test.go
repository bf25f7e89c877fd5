package fcrdns_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

func benchResolver() *resolvertest.Resolver {
	return resolvertest.MustNew(zone + ptr("192.0.2.1", "mail.example.com.") +
		ptr("192.0.2.20", "broken.example.com.") + ptr("192.0.2.20", "other.example.com.") + ptr("192.0.2.20", "good.example.com."))
}

// BenchmarkCheck measures a passing check at zero latency: the cost of the
// check itself and its allocations (the resolver's included).
func BenchmarkCheck(b *testing.B) {
	r := benchResolver()
	ip := netip.MustParseAddr("192.0.2.1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := fcrdns.Check(ctx, r, ip); res.Status != verdict.Pass {
			b.Fatal(res.Reason)
		}
	}
}

// BenchmarkCheckLatency runs the check against a resolver whose every
// query takes L and reports the median elapsed/L: the PTR lookup and then
// the forward lookups of all names in parallel make about 2.
func BenchmarkCheckLatency(b *testing.B) {
	const L = 5 * time.Millisecond
	for _, c := range []struct {
		name string
		ip   string
	}{{"one name", "192.0.2.1"}, {"three names", "192.0.2.20"}} {
		b.Run(c.name, func(b *testing.B) {
			r := benchResolver()
			r.SetLatency(L)
			ip := netip.MustParseAddr(c.ip)
			ctx := context.Background()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				fcrdns.Check(ctx, r, ip)
				took = append(took, time.Since(start))
			}
			b.ReportMetric(medianL(took, L), "L/op")
		})
	}
}

func BenchmarkGeneric(b *testing.B) {
	ip := netip.MustParseAddr("76.121.96.159")
	b.ReportAllocs()
	for b.Loop() {
		fcrdns.Generic(ip, "c-76-121-96-159.hsd1.wa.comcast.net")
	}
}

// medianL returns the median of took in units of L. The median, not the
// mean, because on a shared machine a few checks are delayed by the
// scheduler, and what the benchmark shows is how many lookup latencies a
// check waits for.
func medianL(took []time.Duration, L time.Duration) float64 {
	slices.Sort(took)
	return float64(took[len(took)/2]) / float64(L)
}
