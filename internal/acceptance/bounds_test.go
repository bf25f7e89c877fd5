package acceptance

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/verdict"
)

// boundKeys is the number of distinct keys of the bound tests:
// MTAGUARD_BOUND_KEYS, or 1,000,000 (100,000 under -race or -short). The
// full size under the race detector:
//
//	MTAGUARD_BOUND_KEYS=1000000 go test -race -run Bound -v ./internal/acceptance/
func boundKeys() int {
	def := 1_000_000
	if raceEnabled || testing.Short() {
		def = 100_000
	}
	return envInt("MTAGUARD_BOUND_KEYS", def)
}

// anyA answers every A query with 192.0.2.1 and a day's TTL, so that
// nothing expires from the cache during the test.
type anyA struct{}

func (anyA) Exchange(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 86400},
		A:   net.IPv4(192, 0, 2, 1),
	}}
	return m, nil
}

// TestResolverCacheBound looks up boundKeys distinct names through a
// resolver with CacheSize 1000. The cache's size is not exported, so the
// bound is observed two ways from outside: looking the last 100,000 names
// up again hits the cache at most 1000 times (an unbounded cache would
// hit every time), and the heap grows by far less than the entries would
// take.
func TestResolverCacheBound(t *testing.T) {
	// Not parallel: the heap must be this test's.
	const size = 1000
	n := boundKeys()
	r, err := resolver.New(resolver.Config{Exchanger: anyA{}, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lookup := func(i int) {
		if _, err := r.LookupNetIP(ctx, "ip4", fmt.Sprintf("h%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := heapInUse()
	start := time.Now()
	for i := range n {
		lookup(i)
	}
	el := time.Since(start)
	grown := int64(heapInUse()) - int64(before)

	st := r.Stats()
	// Newest first: those are the names a cache still holds, if any.
	recheck := min(n, 100_000)
	for i := n - 1; i >= n-recheck; i-- {
		lookup(i)
	}
	hits := r.Stats().CacheHits - st.CacheHits
	t.Logf("%d names in %v; heap grew %d KiB; %d of the last %d names still cached (bound %d); stats %+v",
		n, el.Round(time.Millisecond), grown>>10, hits, recheck, size, r.Stats())
	if hits > size {
		t.Errorf("%d cache hits among %d names: the cache holds more than %d", hits, recheck, size)
	}
	if hits == 0 {
		t.Errorf("no cache hit at all: the test shows nothing")
	}
	if st.CacheEntries > size || st.CacheEntries < size/2 {
		t.Errorf("%d cache entries after %d names; bound %d", st.CacheEntries, n, size)
	}
	if st.Lookups != uint64(n) || st.Queries != uint64(n) {
		t.Errorf("stats %+v, want %d lookups and queries", st, n)
	}
	// A cached answer costs a few hundred bytes; 16 MiB is 16,000 of them.
	if grown > 16<<20 {
		t.Errorf("heap grew %d MiB after %d names with a cache of %d", grown>>20, n, size)
	}
	// keep r alive until the heap was measured
	_ = r.Stats()
}

// TestGreylistMemoryBound floods a Memory store bounded to 1000 entries
// with boundKeys distinct triplets from 65,536 networks, through
// greylist.Check as a spammer's retries would: the store stays within its
// bound, the heap with it, and every sighting still gets its answer
// (deferred, since each triplet is new).
func TestGreylistMemoryBound(t *testing.T) {
	// Not parallel: the heap must be this test's.
	const size = 1000
	n := boundKeys()
	st := greylist.NewMemorySize(size)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	o := &greylist.Options{}
	ctx := context.Background()

	// A triplet that passed before the flood.
	known := greylist.Triplet{IP: clientIP, From: mailFrom, Rcpt: rcptTo}
	greylist.Check(ctx, st, known, now, o)
	greylist.Check(ctx, st, known, now.Add(10*time.Minute), o)
	now = now.Add(time.Hour)

	before := heapInUse()
	start := time.Now()
	maxLen := 0
	for i := range n {
		tr := greylist.Triplet{
			IP:   netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}),
			From: fmt.Sprintf("spam%d@example.com", i),
			Rcpt: rcptTo,
		}
		res := greylist.Check(ctx, st, tr, now, o)
		if res.Action != verdict.TempFail {
			t.Fatalf("triplet %d: %v %v %s", i, res.Status, res.Action, res.Reason)
		}
		if i%1000 == 0 {
			maxLen = max(maxLen, st.Len())
		}
	}
	el := time.Since(start)
	maxLen = max(maxLen, st.Len())
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d triplets in %v; store %d entries at most (bound %d); heap grew %d KiB",
		n, el.Round(time.Millisecond), maxLen, size, grown>>10)
	if maxLen > size {
		t.Errorf("store held %d entries, bound %d", maxLen, size)
	}
	if grown > 16<<20 {
		t.Errorf("heap grew %d MiB with a store of %d entries", grown>>20, size)
	}
	_ = st.Len()
}
