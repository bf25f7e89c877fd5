package greylist

import (
	"context"
	"encoding/binary"
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
	m := NewMemorySize(64)
	seen := map[int]bool{}
	for i := range 4096 {
		seen[m.shardOf(netKeyOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i >> 4), byte(i), 0, 0}), 24)))] = true
	}
	if len(seen) != numShards {
		t.Errorf("networks spread over %d shards", len(seen))
	}
	// Each Memory has its own key: two stores place networks differently.
	other, same := NewMemorySize(64), 0
	for i := range 256 {
		k := netKeyOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 24))
		if m.shardOf(k) == other.shardOf(k) {
			same++
		}
	}
	if same > 64 {
		t.Errorf("%d of 256 networks in the same shard in two stores", same)
	}
}

// publicShard is the shard function of the store before it was keyed: a
// fixed mix of the network, which anyone can compute.
func publicShard(k netKey) int {
	h := (k.hi ^ k.lo*0x9e3779b97f4a7c15 ^ uint64(k.bits)) * 0xbf58476d1ce4e5b9
	return int(h >> (64 - shardBits))
}

// TestMemoryChosenNetworks is the attack on the unkeyed shards: an
// attacker picks IPv6 /64s that the public shard function puts in the
// shard of a victim's network, and sends one RCPT from each, to displace
// the victim's pending triplet before its MTA retries (with the fixed
// hash, a flood of one shard's share of the bound sufficed: 15,700 RCPTs
// in a store of 1,000,000). With the keyed hash the chosen networks land
// all over the store, and the victim's retry passes.
func TestMemoryChosenNetworks(t *testing.T) {
	ctx := context.Background()
	r := resolve(nil).rules
	const perShard = 200
	m := NewMemorySize(numShards * perShard)
	victimIP := netip.MustParseAddr("2001:db8:1:2::25")
	victim := makeKey(victimIP, "alice@example.org", "bob@example.net", 24, 64)
	if o, _ := m.Observe(ctx, victim, t0, r); o.State != Deferred {
		t.Fatalf("victim's first attempt: %v", o.State)
	}
	target := publicShard(netKeyOf(victim.Net))
	// Three times the shard's share, from networks chosen for the shard.
	chosen, n := 0, 0
	for i := uint64(0); chosen < 3*perShard; i++ {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:], 0x2001_0db8_6666_0000|i)
		ip := netip.AddrFrom16(a)
		k := makeKey(ip, "spam@example.com", "bob@example.net", 24, 64)
		if publicShard(netKeyOf(k.Net)) != target {
			continue
		}
		chosen++
		m.Observe(ctx, k, t0.Add(time.Minute), r)
		if m.shardOf(netKeyOf(k.Net)) == m.shardOf(netKeyOf(victim.Net)) {
			n++
		}
	}
	if o, _ := m.Observe(ctx, victim, t0.Add(10*time.Minute), r); o.State != Passed {
		t.Errorf("victim's retry after %d chosen networks (%d in its shard): %v, want passed", chosen, n, o.State)
	}
	if n >= perShard/2 {
		t.Errorf("%d of the %d chosen networks share the victim's shard", n, chosen)
	}
}

// checkOrder verifies that every shard's order holds each triplet once.
func checkOrder(t *testing.T, m *Memory) {
	t.Helper()
	for i := range m.shards {
		sh := &m.shards[i]
		seen := map[uint64]bool{}
		for _, o := range sh.order[sh.head:] {
			k := o.k
			if m.shardOf(o.net) != i {
				t.Fatalf("shard %d: key %x of a network of shard %d", i, k, m.shardOf(o.net))
			}
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
