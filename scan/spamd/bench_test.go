package spamd

import (
	"context"
	"testing"
	"time"
)

// BenchmarkScan measures a scan through the Checker against spamd's own
// time, taken as the same request written and read by hand on a fresh
// connection ("raw", measured first in the same run): the metric x-raw is
// the Checker's time over it.
func BenchmarkScan(b *testing.B) {
	srv := sharedSpamd(b)
	msg := message("Hi Bob,\r\n\r\nlunch on Friday?\r\n\r\nAlice\r\n")
	ctx := context.Background()
	c := New("tcp", srv.addr, nil)
	// Warm the spamd children.
	for i := 0; i < 3; i++ {
		c.Evaluate(ctx, msg)
	}
	raw := func(n int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			if _, err := rawScan(srv.addr, msg); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	base := raw(10)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if r := c.Evaluate(ctx, msg); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(base.Microseconds()), "raw-µs/op")
	b.ReportMetric(float64(per)/float64(base), "x-raw")
}
