package dnsbl_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

var fiveLists = []dnsbl.List{
	{Zone: "bl.example", Score: 3},
	{Zone: "zen.example", Score: 1},
	{Zone: "wl.example", Score: -0.5},
	{Zone: "dbl.example", Score: 1},
	{Zone: "five.example", Score: 1},
}

// BenchmarkCheck measures a check over five lists at zero latency: the
// check's own cost and allocations (the resolver's included).
func BenchmarkCheck(b *testing.B) {
	r := resolvertest.MustNew(zones)
	ctx := context.Background()
	for _, c := range []struct{ name, ip string }{{"listed", "192.0.2.99"}, {"clean", "192.0.2.1"}} {
		b.Run(c.name, func(b *testing.B) {
			ip := netip.MustParseAddr(c.ip)
			b.ReportAllocs()
			for b.Loop() {
				dnsbl.Check(ctx, r, ip, fiveLists)
			}
		})
	}
}

// BenchmarkCheckLatency reports the median elapsed/L over five lists with a
// resolver whose every query takes L: the lists are asked in parallel, so
// about 1.
func BenchmarkCheckLatency(b *testing.B) {
	const L = 5 * time.Millisecond
	r := resolvertest.MustNew(zones)
	r.SetLatency(L)
	ip := netip.MustParseAddr("192.0.2.99")
	ctx := context.Background()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		dnsbl.Check(ctx, r, ip, fiveLists)
		took = append(took, time.Since(start))
	}
	b.ReportMetric(medianL(took, L), "L/op")
}

func BenchmarkCheckDomain(b *testing.B) {
	r := resolvertest.MustNew(zones)
	ctx := context.Background()
	lists := []dnsbl.List{dbl}
	b.ReportAllocs()
	for b.Loop() {
		dnsbl.CheckDomain(ctx, r, "spam.example.com", lists)
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
