package rspamd

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkScan measures a scan through the Checker against rspamd's own
// time for it, the time_real of its reply: x-rspamd is the round trip
// over rspamd's time, the overhead of HTTP, JSON and this package.
func BenchmarkScan(b *testing.B) {
	srv := sharedRspamd(b)
	c := New(srv.url, nil)
	ctx := context.Background()
	f := Facts{IP: netip.MustParseAddr("192.0.2.10"), Helo: "mail.example.org", Hostname: "mail.example.org",
		From: "alice@example.org", Rcpts: []string{"bob@example.net"}}
	for i := 0; i < 3; i++ { // warm the caches (DNS, maps)
		c.Scan(ctx, f, ham)
	}
	var own time.Duration
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r, err := c.Scan(ctx, f, ham)
		if err != nil {
			b.Fatal(err)
		}
		own += r.Time
	}
	total := time.Since(start)
	if own > 0 {
		b.ReportMetric(float64(own.Microseconds())/float64(b.N), "rspamd-µs/op")
		b.ReportMetric(float64(total)/float64(own), "x-rspamd")
	}
}
