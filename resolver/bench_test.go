package resolver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver"
)

const benchZone = `
$ORIGIN example.org.
@    TXT  "v=spf1 ip4:192.0.2.0/24 -all"
*    TXT  "v=spf1 -all"
`

// BenchmarkCacheHit is the cost of a lookup answered from a warm cache,
// the common case of a busy border MTA.
func BenchmarkCacheHit(b *testing.B) {
	_, srv := serve(b, benchZone)
	r := client(b, resolver.Config{Timeout: time.Second}, srv.Addr)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "example.org"); err != nil {
			b.Fatal(err)
		}
	}
	if s := r.Stats(); s.Queries != 1 {
		b.Fatalf("%d queries, want 1", s.Queries)
	}
}

// BenchmarkCacheHitParallel is BenchmarkCacheHit from every CPU at once,
// over many names, to show lock contention.
func BenchmarkCacheHitParallel(b *testing.B) {
	_, srv := serve(b, benchZone)
	r := client(b, resolver.Config{Timeout: time.Second}, srv.Addr)
	ctx := context.Background()
	names := make([]string, 256)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.example.org", i)
		if _, err := r.LookupTXT(ctx, names[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := r.LookupTXT(ctx, names[i%len(names)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkLookupMiss is the cost of a lookup that goes to the server on
// loopback, over UDP, and is cached.
func BenchmarkLookupMiss(b *testing.B) {
	_, srv := serve(b, benchZone)
	r := client(b, resolver.Config{Timeout: time.Second}, srv.Addr)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := r.LookupTXT(ctx, fmt.Sprintf("n%d.example.org", i)); err != nil {
			b.Fatal(err)
		}
	}
	s := r.Stats()
	b.ReportMetric(float64(s.Sent)/float64(b.N), "msgs/op")
}
