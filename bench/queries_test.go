package bench

import (
	"context"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkQueries counts the DNS queries of a session, as the zone's
// server sees them, at L = 0: the first session of a client on a cold
// resolver ("first-queries"), a second session from the same client for
// the same domains ("repeat-queries", and "repeat-%" of the first), and
// the baseline's session, which has no cache ("baseline-queries").
// "lookups" is what the checks of the first session asked the resolver,
// before its cache and the sharing of identical queries in flight.
// TestQueries checks which (name, type) pairs they are.
func BenchmarkQueries(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 1, 1, 0)
	var first, repeat, baseline, lookups int
	for b.Loop() {
		r := w.resolver(b)
		p := newPolicy(r, w.grey)
		for i := range 2 {
			q0 := w.zone.TotalQueries()
			if _, worst := runStaged(ctx, p, w.session(0, 2), nil); worst != verdict.Accept {
				b.Fatal(worst)
			}
			if i == 0 {
				first += w.zone.TotalQueries() - q0
				lookups += int(r.Stats().Lookups)
			} else {
				repeat += w.zone.TotalQueries() - q0
			}
		}
		q0 := w.zone.TotalQueries()
		runBaseline(ctx, w.zone, w.grey, w.session(0, 2))
		baseline += w.zone.TotalQueries() - q0
	}
	n := float64(b.N)
	b.ReportMetric(float64(first)/n, "first-queries")
	b.ReportMetric(float64(repeat)/n, "repeat-queries")
	b.ReportMetric(100*float64(repeat)/float64(first), "repeat-%")
	b.ReportMetric(float64(baseline)/n, "baseline-queries")
	b.ReportMetric(float64(lookups)/n, "lookups")
}
