package helo_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkCheck measures a consistent HELO at zero latency: the check's
// own cost and allocations (the resolver's included).
func BenchmarkCheck(b *testing.B) {
	r := resolvertest.MustNew(zone)
	ip := netip.MustParseAddr("192.0.2.1")
	c := helo.New(r, &helo.Options{LocalNames: []string{"example.org"}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Evaluate(ctx, ip, "mail.example.com", "mail.example.com"); res.Status != verdict.Pass {
			b.Fatal(res.Reason)
		}
	}
}

// BenchmarkCheckLatency reports the median elapsed/L with a resolver whose
// every query takes L: the A and AAAA lookups run in parallel (about 1),
// and a name without addresses costs its MX lookup too (about 2).
func BenchmarkCheckLatency(b *testing.B) {
	const L = 5 * time.Millisecond
	for _, c := range []struct{ bench, name string }{{"resolves", "mail.example.com"}, {"nxdomain", "ghost.example.com"}} {
		b.Run(c.bench, func(b *testing.B) {
			r := resolvertest.MustNew(zone)
			r.SetLatency(L)
			ip := netip.MustParseAddr("192.0.2.1")
			ctx := context.Background()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				helo.Check(ctx, r, ip, c.name, nil)
				took = append(took, time.Since(start))
			}
			b.ReportMetric(medianL(took, L), "L/op")
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		helo.Parse("Mail.Example.COM.")
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
