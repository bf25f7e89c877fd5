package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// triplets returns n distinct triplets from n/4 networks.
func triplets(n int) []Triplet {
	out := make([]Triplet, n)
	for i := range out {
		out[i] = Triplet{
			IP:   netip.AddrFrom4([4]byte{198, byte(i >> 10), byte(i >> 2), byte(i)}),
			From: fmt.Sprintf("sender%d@example.com", i),
			Rcpt: fmt.Sprintf("rcpt%d@example.org", i%97),
		}
	}
	return out
}

// BenchmarkMemoryCheck measures whole checks (key, digest, store) against
// a Memory holding 1,000,000 entries; run it with -cpu 1 for one core.
//
//   - flood: every check is a triplet never seen, which displaces the
//     oldest: the worst case, a spam run or an attack;
//   - known: triplets that passed before, the steady state of a server;
//   - mixed: 65,536 triplets cycled through every state as time goes on.
func BenchmarkMemoryCheck(b *testing.B) {
	ctx := context.Background()
	// checks/s is by the wall clock; checks/cpu-s by the process's CPU
	// time, which does not count the time other processes took the core
	// (the figure to read on a shared machine).
	perSecond := func(b *testing.B, n int, start time.Time, cpu time.Duration) {
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "checks/s")
		b.ReportMetric(float64(n)/(cpuTime()-cpu).Seconds(), "checks/cpu-s")
	}
	b.Run("flood", func(b *testing.B) {
		m := NewMemory()
		fill(m, DefaultMaxEntries)
		o := &Options{IPv4Prefix: 32}
		tr := Triplet{From: "sender@example.com", Rcpt: "rcpt@example.org"}
		i, start, cpu := 0, time.Now(), cpuTime()
		for b.Loop() {
			tr.IP = netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)})
			Check(ctx, m, tr, t0, o)
			i++
		}
		perSecond(b, i, start, cpu)
	})
	b.Run("known", func(b *testing.B) {
		m := NewMemory()
		fill(m, DefaultMaxEntries)
		trs := triplets(1 << 16)
		for _, tr := range trs {
			Check(ctx, m, tr, t0, nil)
			Check(ctx, m, tr, t0.Add(10*time.Minute), nil)
		}
		i, start, cpu := 0, time.Now(), cpuTime()
		for b.Loop() {
			Check(ctx, m, trs[i&(len(trs)-1)], t0.Add(20*time.Minute), nil)
			i++
		}
		perSecond(b, i, start, cpu)
	})
	b.Run("mixed", func(b *testing.B) {
		m := NewMemory()
		fill(m, DefaultMaxEntries)
		trs := triplets(1 << 16)
		now := t0
		i, start, cpu := 0, time.Now(), cpuTime()
		for b.Loop() {
			Check(ctx, m, trs[i&(len(trs)-1)], now, nil)
			i++
			if i&0xffff == 0 {
				now = now.Add(10 * time.Minute)
			}
		}
		perSecond(b, i, start, cpu)
	})
}

// BenchmarkMemoryObserve measures the store alone, keys made beforehand,
// in a Memory holding 1,000,000 entries.
func BenchmarkMemoryObserve(b *testing.B) {
	ctx := context.Background()
	r := resolve(nil).rules
	keys := make([]Key, 1<<16)
	for i, tr := range triplets(len(keys)) {
		keys[i] = makeKey(tr.IP, tr.From, tr.Rcpt, 24, 64)
	}
	b.Run("known", func(b *testing.B) {
		m := NewMemory()
		fill(m, DefaultMaxEntries)
		for _, k := range keys {
			m.Observe(ctx, k, t0, r)
			m.Observe(ctx, k, t0.Add(10*time.Minute), r)
		}
		i, start, cpu := 0, time.Now(), cpuTime()
		for b.Loop() {
			m.Observe(ctx, keys[i&(len(keys)-1)], t0.Add(20*time.Minute), r)
			i++
		}
		b.ReportMetric(float64(i)/time.Since(start).Seconds(), "checks/s")
		b.ReportMetric(float64(i)/(cpuTime()-cpu).Seconds(), "checks/cpu-s")
	})
	b.Run("flood", func(b *testing.B) {
		m := NewMemory()
		fill(m, DefaultMaxEntries)
		k := keys[0]
		i, start, cpu := 0, time.Now(), cpuTime()
		for b.Loop() {
			k.Net = netip.PrefixFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), 0}), 24)
			k.Triplet[0], k.Triplet[1], k.Triplet[2], k.Triplet[3] = 0x5a, byte(i), byte(i>>8), byte(i>>16)
			m.Observe(ctx, k, t0, r)
			i++
		}
		b.ReportMetric(float64(i)/time.Since(start).Seconds(), "checks/s")
		b.ReportMetric(float64(i)/(cpuTime()-cpu).Seconds(), "checks/cpu-s")
	})
}

func BenchmarkMemoryCheckParallel(b *testing.B) {
	m := NewMemory()
	trs := triplets(1 << 16)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			Check(ctx, m, trs[i&(len(trs)-1)], t0.Add(time.Duration(i>>16)*10*time.Minute), nil)
			i++
		}
	})
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fill adds n distinct pending triplets to m.
func fill(m *Memory, n int) {
	ctx := context.Background()
	r := resolve(nil).rules
	for i := range n {
		k := Key{Net: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), 0}), 24)}
		k.Triplet[0], k.Triplet[1], k.Triplet[2], k.Triplet[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		m.Observe(ctx, k, t0, r)
	}
}

// BenchmarkMemoryBytesPerEntry reports the heap a Memory uses per entry
// when it holds 1,000,000.
func BenchmarkMemoryBytesPerEntry(b *testing.B) {
	var perEntry float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := NewMemory()
		fill(m, DefaultMaxEntries)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / float64(m.Len())
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perEntry, "B/entry")
}
