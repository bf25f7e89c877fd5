package greylist

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxEntries is the bound of a Memory made by NewMemory. At about
// 90 bytes an entry (BenchmarkMemoryBytesPerEntry) it is some 90 MB when
// full.
const DefaultMaxEntries = 1_000_000

// numShards spreads the lock: a check locks one shard, chosen by the
// client network, so checks from different networks rarely wait for each
// other.
const numShards = 64

// shardBits is log2(numShards): a shard is the top bits of a hash.
const shardBits = 6

// Memory is the embedded Store: in-process, safe for concurrent use,
// bounded, with expiring entries. Create it with NewMemory or
// NewMemorySize.
//
// All the entries of one client network live in one of 64 shards, and each
// shard holds at most its share of the bound, so a flood of distinct
// triplets, even from many networks, cannot grow the store past it, and a
// flood from one network can only displace entries of its own shard. The
// shard of a network is a hash keyed with a secret random to each Memory
// (hash/maphash), so that a client cannot pick networks that share a
// victim's shard and displace its pending triplet with a small flood: to
// displace it, a flood has to fill every shard, the whole bound. A
// shard keeps its triplets in the order they were added: when it is full,
// the oldest pending triplet is displaced, which is the one closest to the
// end of its retry window, while a triplet that passed gets a second
// chance, as in the CLOCK algorithm. The same order lets each insertion
// drop the expired triplets at its head, so expired entries go without a
// background goroutine. Every operation is O(1).
//
// Memory keeps no history across restarts by itself; WriteTo and ReadFrom
// save and load a snapshot.
type Memory struct {
	perShard int
	seed     maphash.Seed // the key of the shard hash
	shards   [numShards]shard
}

type shard struct {
	mu   sync.Mutex
	grey map[uint64]greyEntry
	nets map[netKey]netEntry
	// order holds each key of grey once, oldest from head on, with
	// its client network, which only a snapshot needs: a Memory loading
	// one places each triplet in the shard of its network under its own
	// key. Here rather than in grey, whose entries stay small for the
	// cache.
	order []ordered
	head  int
	_     [16]byte // keep neighbouring shards' locks off one cache line
}

// ordered is a triplet's key in a shard's order, with its network.
type ordered struct {
	k   uint64
	net netKey
}

// greyEntry is a triplet's record; times are Unix milliseconds. Whether
// the triplet passed is kept in the low bit of exp, so that an entry and
// its key take 24 bytes, three to a cache line and a half, not two.
type greyEntry struct {
	first int64
	exp   int64 // expiry<<1 | passed
}

func newGrey(first, expire int64, passed bool) greyEntry {
	e := greyEntry{first: first, exp: expire << 1}
	if passed {
		e.exp |= 1
	}
	return e
}

func (e greyEntry) expire() int64 { return e.exp >> 1 }
func (e greyEntry) passed() bool  { return e.exp&1 != 0 }

// netEntry is a client network's auto-allow record.
type netEntry struct {
	count  int32
	last   int64 // when count last grew
	expire int64
}

// netKey is a client network as a map key.
type netKey struct {
	hi, lo uint64
	bits   uint8
}

func netKeyOf(p netip.Prefix) netKey {
	a := p.Addr().As16()
	return netKey{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), uint8(p.Bits())}
}

// shardOf returns the shard of a client network: the top bits of its
// hash under m's key.
func (m *Memory) shardOf(k netKey) int {
	return int(maphash.Comparable(m.seed, k) >> (64 - shardBits))
}

// NewMemory returns a Memory store holding at most DefaultMaxEntries
// entries.
func NewMemory() *Memory {
	return NewMemorySize(DefaultMaxEntries)
}

// NewMemorySize returns a Memory store holding at most maxEntries entries
// (and at least 64: one a shard). An entry is a triplet or a client
// network's auto-allow record.
func NewMemorySize(maxEntries int) *Memory {
	m := &Memory{perShard: max(1, maxEntries/numShards), seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].grey = make(map[uint64]greyEntry)
		m.shards[i].nets = make(map[netKey]netEntry)
	}
	return m
}

// Len returns the number of entries, expired ones not yet dropped
// included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.grey) + len(sh.nets)
		sh.mu.Unlock()
	}
	return n
}

// Observe implements Store.
func (m *Memory) Observe(ctx context.Context, k Key, t time.Time, r Rules) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	now := t.UnixMilli()
	delay, window, life, every := r.Delay.Milliseconds(), r.RetryWindow.Milliseconds(), r.Lifetime.Milliseconds(), r.CountEvery.Milliseconds()
	nk := netKeyOf(k.Net)
	sh := &m.shards[m.shardOf(nk)]
	sh.mu.Lock()
	defer sh.mu.Unlock()

	var ne netEntry
	if r.AutoAllow > 0 {
		var ok bool
		if ne, ok = sh.nets[nk]; ok && ne.expire <= now {
			ne = netEntry{}
		}
		if ne.count >= int32(r.AutoAllow) {
			ne.expire = now + life
			sh.nets[nk] = ne
			return Outcome{State: AutoAllowed}, nil
		}
	}

	gk := binary.LittleEndian.Uint64(k.Triplet[:8])
	ge, ok := sh.grey[gk]
	if !ok || ge.expire() <= now {
		e := newGrey(now, now+window, false)
		if ok {
			sh.grey[gk] = e
		} else {
			m.addGrey(sh, ordered{gk, nk}, e, now)
		}
		return Outcome{State: Deferred, First: t}, nil
	}
	state := Known
	if !ge.passed() {
		if now < ge.first+delay {
			return Outcome{State: Early, First: time.UnixMilli(ge.first)}, nil
		}
		state = Passed
	}
	ge = newGrey(ge.first, now+life, true)
	sh.grey[gk] = ge

	if r.AutoAllow > 0 {
		if ne.count == 0 || now-ne.last >= every {
			ne.count++
			ne.last = now
		}
		ne.expire = now + life
		if _, ok := sh.nets[nk]; ok {
			sh.nets[nk] = ne
		} else {
			m.addNet(sh, nk, ne, now)
		}
	}
	return Outcome{State: state, First: time.UnixMilli(ge.first)}, nil
}

// addGrey adds a new triplet to sh, which is locked, making room for it.
// Before that it looks at the two oldest triplets: an expired one is
// dropped, a passed one goes to the back. That drops expired entries
// faster than new ones arrive once most have expired.
func (m *Memory) addGrey(sh *shard, o ordered, e greyEntry, now int64) {
	for range 2 {
		if sh.head == len(sh.order) {
			break
		}
		old := sh.order[sh.head]
		oe := sh.grey[old.k]
		if oe.expire() > now && !oe.passed() {
			break
		}
		sh.pop()
		if oe.expire() <= now {
			delete(sh.grey, old.k)
		} else {
			sh.order = append(sh.order, old)
		}
	}
	if len(sh.grey)+len(sh.nets) >= m.perShard {
		m.evict(sh, now)
	}
	sh.grey[o.k] = e
	sh.order = append(sh.order, o)
}

// addNet adds a new network record to sh, which is locked, making room
// for it.
func (m *Memory) addNet(sh *shard, k netKey, e netEntry, now int64) {
	if len(sh.grey)+len(sh.nets) >= m.perShard {
		m.evict(sh, now)
	}
	sh.nets[k] = e
}

// secondChances bounds how many passed triplets evict sends to the back
// before it displaces one anyway.
const secondChances = 8

// evict displaces one entry of sh, which is locked: the oldest triplet
// that has expired or is pending, passing over (and sending to the back)
// up to secondChances passed ones. Network records, which carry the most
// history, go only when a shard holds nothing else; the one with the
// fewest passes, soonest to expire, of a few sampled.
func (m *Memory) evict(sh *shard, now int64) {
	for i := 0; sh.head < len(sh.order); i++ {
		o := sh.pop()
		e := sh.grey[o.k]
		if e.expire() <= now || !e.passed() || i == secondChances {
			delete(sh.grey, o.k)
			return
		}
		sh.order = append(sh.order, o)
	}
	var victim netKey
	var worst netEntry
	n := 0
	for k, e := range sh.nets {
		if n == 0 || e.count < worst.count || e.count == worst.count && e.expire < worst.expire {
			victim, worst = k, e
		}
		if n++; n == 8 {
			break
		}
	}
	delete(sh.nets, victim)
}

// pop removes the oldest key from sh.order, compacting it now and then so
// that it stays within twice the number of triplets.
func (sh *shard) pop() ordered {
	k := sh.order[sh.head]
	sh.head++
	if sh.head >= 1024 && 2*sh.head >= len(sh.order) {
		n := copy(sh.order, sh.order[sh.head:])
		sh.order = sh.order[:n]
		sh.head = 0
	}
	return k
}
