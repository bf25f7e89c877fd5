package clamd

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkScan measures a scan through the Checker against clamd's own
// time: "raw" is the bare protocol exchange on one kept connection (what
// clamd spends, plus one round trip), "pooled" the Checker with its pool,
// "unpooled" a new connection per scan. The overhead metric is the
// Checker's time per scan over the raw time in the same run.
func BenchmarkScan(b *testing.B) {
	srv := sharedClamd(b)
	msg := mimeMessage([]byte("a harmless attachment of a few bytes"))
	ctx := context.Background()

	raw := func() time.Duration {
		nc, err := net.Dial("tcp", srv.tcp)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		nc.Write([]byte("zIDSESSION\x00"))
		n := 200
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := WriteInstream(nc, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadString(0); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	base := raw()
	for _, tc := range []struct {
		name string
		o    *Options
	}{{"pooled", nil}, {"unpooled", &Options{MaxIdle: -1}}} {
		b.Run(tc.name, func(b *testing.B) {
			c := New("tcp", srv.tcp, tc.o)
			defer c.Close()
			b.SetBytes(int64(len(msg)))
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
		})
	}
}
