package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// latency is L, the time every DNS query takes to be answered.
const latency = 10 * time.Millisecond

// BenchmarkLatency measures one whole session (connect to data) with every
// query taking L = 10 ms, cold caches, in multiples of L ("L/op"):
//
//   - baseline: the pure functions one after another on resolvertest (no
//     cache, no sharing), in memory;
//   - staged: one Policy, Evaluate at each stage as the SMTP dialogue
//     goes, on a caching resolver asking the zone's server over UDP on
//     loopback; the per-stage figures ("connect-L", ...) add up to L/op;
//   - staged-2sig: the same with the message signed twice (RSA and
//     Ed25519): go-msgauth verifies the signatures concurrently, so the
//     two keys are looked up together and the depth is the same;
//   - all-at-once: EvaluateAll, as a milter at end of data or the explain
//     command run it.
//
// "target-L" is the bound, the critical-path depth plus one;
// "speedup" is the baseline's latency, measured in the same run, divided
// by the sub-benchmark's.
func BenchmarkLatency(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 1, 1, latency)
	baseline := median(3, func() {
		if d := runBaseline(ctx, w.zone, w.grey, w.session(0, 1)); d.Action != verdict.Accept {
			b.Fatal(d)
		}
	})
	report := func(b *testing.B, target int) {
		perOp := float64(b.Elapsed()) / float64(b.N)
		b.ReportMetric(perOp/float64(latency), "L/op")
		b.ReportMetric(float64(target), "target-L")
		b.ReportMetric(float64(baseline)/perOp, "speedup")
	}

	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			if d := runBaseline(ctx, w.zone, w.grey, w.session(0, 1)); d.Action != verdict.Accept {
				b.Fatal(d)
			}
		}
		report(b, depthBaseline+1)
	})
	staged := func(sigs, depth int) func(*testing.B) {
		return func(b *testing.B) {
			var times stageTimes
			for b.Loop() {
				p := newPolicy(w.resolver(b), w.grey) // cold cache
				if _, worst := runStaged(ctx, p, w.session(0, sigs), &times); worst != verdict.Accept {
					b.Fatal(worst)
				}
			}
			report(b, depth+1)
			for st, t := range times {
				b.ReportMetric(float64(t)/float64(b.N)/float64(latency), verdict.Stage(st).String()+"-L")
			}
		}
	}
	b.Run("staged", staged(1, depthStaged))
	b.Run("staged-2sig", staged(2, depthStaged))
	b.Run("all-at-once", func(b *testing.B) {
		for b.Loop() {
			p := newPolicy(w.resolver(b), w.grey)
			if d := p.EvaluateAll(ctx, w.session(0, 1)); d.Action != verdict.Accept {
				b.Fatal(d)
			}
		}
		report(b, depthAll+1)
	})
}

// median returns the median duration of n calls of f.
func median(n int, f func()) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		f()
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2]
}
