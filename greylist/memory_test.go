package greylist

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func key(ip netip.Addr, n int) Key {
	return makeKey(ip, "s"+strconv.Itoa(n)+"@example.com", "r@example.org", 24, 64)
}

// TestMemoryBound: a flood of distinct triplets, from many networks or
// from one, never grows the store past its bound.
func TestMemoryBound(t *testing.T) {
	ctx := context.Background()
	r := resolve(nil).rules
	m := NewMemorySize(1000)
	for i := range 50000 {
		ip := netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 1})
		if _, err := m.Observe(ctx, key(ip, i), t0, r); err != nil {
			t.Fatal(err)
		}
		if m.Len() > 1000 {
			t.Fatalf("after %d triplets: %d entries", i+1, m.Len())
		}
	}
	one := NewMemorySize(6400) // 100 a shard
	ip := netip.MustParseAddr("203.0.113.7")
	for i := range 20000 {
		one.Observe(ctx, key(ip, i), t0, r)
	}
	if n := one.Len(); n != 100 {
		t.Errorf("one network's flood: %d entries, want its shard's 100", n)
	}
	if n := NewMemorySize(0).perShard; n != 1 {
		t.Errorf("minimum per shard %d", n)
	}
}

// TestMemoryEviction: a flood of pending triplets displaces other pending
// ones, not the triplets that passed, nor the network records.
func TestMemoryEviction(t *testing.T) {
	ctx := context.Background()
	r := resolve(nil).rules
	m := NewMemorySize(64 * 50)
	ip := netip.MustParseAddr("203.0.113.7")
	good := []Key{key(ip, 900001), key(ip, 900002), key(ip, 900003)}
	for _, k := range good {
		m.Observe(ctx, k, t0, r)
		if o, _ := m.Observe(ctx, k, t0.Add(10*time.Minute), r); o.State != Passed {
			t.Fatalf("setup: %v", o.State)
		}
	}
	for i := range 10000 {
		m.Observe(ctx, key(ip, i), t0.Add(11*time.Minute), r)
	}
	for _, k := range good {
		if o, _ := m.Observe(ctx, k, t0.Add(12*time.Minute), r); o.State != Known {
			t.Errorf("passed triplet displaced: %v", o.State)
		}
	}
}

// TestMemoryExpiry: expired entries are dropped as new ones arrive.
func TestMemoryExpiry(t *testing.T) {
	ctx := context.Background()
	r := resolve(nil).rules
	m := NewMemory()
	for i := range 1000 {
		m.Observe(ctx, key(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), i), t0, r)
	}
	later := t0.Add(r.RetryWindow + time.Second)
	for i := range 1000 {
		m.Observe(ctx, key(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), i+5000), later, r)
	}
	if n := m.Len(); n > 1200 {
		t.Errorf("%d entries after the first 1000 expired", n)
	}
}

func TestNetKeyShard(t *testing.T) {
	seen := map[int]bool{}
	for i := range 4096 {
		seen[netKeyOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i >> 4), byte(i), 0, 0}), 24)).shard()] = true
	}
	if len(seen) != numShards {
		t.Errorf("networks spread over %d shards", len(seen))
	}
}

// checkOrder verifies that every shard's order holds each triplet once.
func checkOrder(t *testing.T, m *Memory) {
	t.Helper()
	for i := range m.shards {
		sh := &m.shards[i]
		seen := map[uint64]bool{}
		for _, k := range sh.order[sh.head:] {
			if seen[k] {
				t.Fatalf("shard %d: key %x twice in order", i, k)
			}
			if _, ok := sh.grey[k]; !ok {
				t.Fatalf("shard %d: key %x in order, not in the map", i, k)
			}
			seen[k] = true
		}
		if len(seen) != len(sh.grey) {
			t.Fatalf("shard %d: %d keys in order, %d triplets", i, len(seen), len(sh.grey))
		}
		if len(sh.order) > 2*len(sh.grey)+1024 {
			t.Fatalf("shard %d: order of %d for %d triplets", i, len(sh.order), len(sh.grey))
		}
	}
}

// TestMemoryOrder drives a small store through inserts, passes, expiry
// and eviction, and checks its order after each.
func TestMemoryOrder(t *testing.T) {
	ctx := context.Background()
	r := resolve(&Options{AutoAllow: 2, RetryWindow: time.Hour, Lifetime: 3 * time.Hour}).rules
	m := NewMemorySize(64 * 20)
	for i := range 20000 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i % 7), 1})
		at := t0.Add(time.Duration(i) * time.Minute / 10)
		m.Observe(ctx, key(ip, i%300), at, r)
		if i%1000 == 0 {
			checkOrder(t, m)
		}
	}
	checkOrder(t, m)
	if m.Len() > 64*20 {
		t.Errorf("%d entries", m.Len())
	}
}
