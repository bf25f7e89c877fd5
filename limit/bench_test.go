package limit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/redistest"
)

func benchRules() []Rule {
	return []Rule{{Counter: Messages, Rate: Rate{Events: 1 << 30, Per: time.Second}}}
}

// BenchmarkMemoryDecision: one rule, 1024 clients, in memory. The target
// is ≤ 200 ns and no allocation per decision.
func BenchmarkMemoryDecision(b *testing.B) {
	ck := New(NewMemory(0), &Options{Rules: benchRules()})
	ctx := context.Background()
	var fs [1024]Facts
	for i := range fs {
		fs[i].IP = loadClient(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ck.Evaluate(ctx, fs[i%len(fs)], t0)
		i++
	}
}

// BenchmarkMemoryDecisionParallel: the same from all CPUs (the shards at
// work).
func BenchmarkMemoryDecisionParallel(b *testing.B) {
	ck := New(NewMemory(0), &Options{Rules: benchRules()})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ck.Evaluate(ctx, Facts{IP: loadClient(i % 1024)}, t0)
			i++
		}
	})
}

// BenchmarkAllow is the arithmetic alone: the baseline of the decision.
func BenchmarkAllow(b *testing.B) {
	r := Rate{Events: 1 << 30, Per: time.Second}
	var tat time.Time
	for b.Loop() {
		tat, _, _, _ = Allow(tat, t0, r, 1)
	}
}

// BenchmarkRedisDecision: two rules on two subjects (two slots, one
// pipeline) against a local redis-server; roundtrips/op must be 1.
func BenchmarkRedisDecision(b *testing.B) {
	s := redistest.Start(b)
	c := s.Client(b)
	h := &redistest.RoundTrips{}
	c.AddHook(h)
	ck := New(NewRedis(c, redistest.Prefix()), &Options{Rules: append(benchRules(),
		Rule{Counter: Messages, Subject: Sender, Rate: Rate{Events: 1 << 30, Per: time.Second}})})
	ctx := context.Background()
	f := Facts{IP: netip.MustParseAddr("192.0.2.1"), Sender: "a@example.org"}
	ck.Evaluate(ctx, f, t0)
	h.Reset()
	n := 0
	for b.Loop() {
		f.IP = loadClient(n % 1024)
		if r := ck.Evaluate(ctx, f, t0); r.Err != nil {
			b.Fatal(r.Err)
		}
		n++
	}
	b.ReportMetric(float64(h.N())/float64(n), "roundtrips/op")
}
