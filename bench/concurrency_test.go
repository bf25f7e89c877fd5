package bench

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// concurrent is the number of sessions of a wave.
const concurrent = 1000

// BenchmarkConcurrent starts 1,000 staged sessions at once through one
// Policy, with L = 10 ms and the resolver's cache cold, and compares the
// wave with one session alone, measured in the same run:
//
//   - 1000-clients-1-domain: 1,000 hosts of one sender (a bulk sender's
//     burst): the sender's SPF, DKIM and DMARC lookups are shared;
//   - 1000-clients-1000-domains: 1,000 senders, nothing shared but the
//     DNSBL zones' SOA.
//
// "x-single" is the wave's duration (until the last session finishes)
// divided by the single session's latency; "p50-x-single" and
// "p99-x-single" the sessions' own latencies, so divided. "cpu-us/session"
// is the CPU time of the process per session, the test DNS server's
// included. "live-KiB/session" is the live heap and goroutine stacks per
// session in flight ("in-flight" of them), measured after a forced GC half
// a single session's latency into an extra, untimed wave (the wave's own
// bookkeeping included; the message is shared by the sessions of a domain
// and not counted); "goroutines/session" is counted there too;
// "alloc-KiB/session" is what a session allocates in all.
func BenchmarkConcurrent(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		domains int
	}{
		{"1000-clients-1-domain", 1},
		{"1000-clients-1000-domains", concurrent},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b, concurrent, c.domains, latency)
			single := median(3, func() {
				if _, worst := runStaged(ctx, newPolicy(w.resolver(b), w.grey), w.session(0, 1), nil); worst != verdict.Accept {
					b.Fatal(worst)
				}
			})
			var (
				waves    time.Duration
				lats     []time.Duration
				ms0, ms1 runtime.MemStats
			)
			runtime.ReadMemStats(&ms0)
			cpu0, _ := cpuTime()
			for b.Loop() {
				wave, l := w.wave(ctx, b, nil)
				waves += wave
				lats = append(lats, l...)
			}
			cpu1, cpuOK := cpuTime()
			runtime.ReadMemStats(&ms1)
			slices.Sort(lats)
			meanWave := waves / time.Duration(b.N)
			b.ReportMetric(float64(meanWave)/float64(single), "x-single")
			b.ReportMetric(float64(lats[len(lats)/2])/float64(single), "p50-x-single")
			b.ReportMetric(float64(lats[len(lats)*99/100])/float64(single), "p99-x-single")
			b.ReportMetric(float64(single)/1e6, "single-ms")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N*concurrent)/1024, "alloc-KiB/session")
			if cpuOK {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N*concurrent)/1e3, "cpu-us/session")
			}

			// The extra wave: stop the world early in it, when the
			// sessions are waiting for DNS, and count what is live per
			// session then in flight.
			var before, mid runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			goroutines := runtime.NumGoroutine()
			inFlight := 0
			w.wave(ctx, b, func(n func() int) {
				time.Sleep(single / 2)
				runtime.GC()
				runtime.ReadMemStats(&mid)
				goroutines = runtime.NumGoroutine() - goroutines
				inFlight = max(1, n())
			})
			live := mid.HeapAlloc + mid.StackInuse - min(mid.HeapAlloc+mid.StackInuse, before.HeapAlloc+before.StackInuse)
			b.ReportMetric(float64(live)/float64(inFlight)/1024, "live-KiB/session")
			b.ReportMetric(float64(goroutines)/float64(inFlight), "goroutines/session")
			b.ReportMetric(float64(inFlight), "in-flight")
		})
	}
}

// wave runs one staged session of each of w's clients at once, through one
// Policy on a cold caching resolver, and returns how long it took until the
// last one finished and each session's latency. If during is set, it runs
// it once all sessions are released, and waits for it; it gets a function
// that returns the number of sessions then in flight.
func (w *world) wave(ctx context.Context, b *testing.B, during func(inFlight func() int)) (time.Duration, []time.Duration) {
	p := newPolicy(w.resolver(b), w.grey)
	n := len(w.clients)
	lats := make([]time.Duration, n)
	sessions := make([]*verdict.Session, n)
	for i := range sessions {
		sessions[i] = w.session(i, 1)
	}
	var refused, inFlight atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			inFlight.Add(1)
			t := time.Now()
			if _, worst := runStaged(ctx, p, sessions[i], nil); worst != verdict.Accept {
				refused.Add(1)
			}
			lats[i] = time.Since(t)
			inFlight.Add(-1)
		})
	}
	var bg sync.WaitGroup
	if during != nil {
		bg.Go(func() {
			<-start
			during(func() int { return int(inFlight.Load()) })
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wave := time.Since(t0)
	bg.Wait()
	if r := refused.Load(); r > 0 {
		b.Fatalf("%d of %d sessions not accepted", r, n)
	}
	return wave, lats
}
