package limit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of counters a Memory store keeps at most
// when NewMemory is given 0.
const DefaultMaxKeys = 1 << 20

const shards = 64

// Memory is a Store in the process's memory, for one SMTP server (several
// servers share limits through NewRedis). It holds at most a fixed number
// of counters; when a shard is full, it first drops counters that carry
// no information any more (an idle rate counter, a concurrency counter
// without live leases) and otherwise the one closest to idle among a few
// sampled, so a flood of new keys can make it forget but never grow.
//
// Keys are spread over shards with a keyed hash (hash/maphash) whose
// random seed is the store's own, so a client cannot choose keys that all
// land in one shard.
type Memory struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu    sync.Mutex
	m     map[uint64]*entry // by the key's keyed hash; see find
	bound int
}

// entry is one counter: a rate counter's theoretical arrival time, or a
// concurrency counter's leases. Times in microseconds.
type entry struct {
	key    Key
	tat    int64
	leases []lease
}

type lease struct {
	name    string
	expires int64
}

// NewMemory returns a Memory store that keeps at most maxKeys counters (0
// means DefaultMaxKeys).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = make(map[uint64]*entry)
		m.shards[i].bound = max(maxKeys/shards, 1)
	}
	return m
}

// Len returns the number of counters held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// shard returns k's shard and hash: one keyed hash picks both the shard
// and the place in its map, so a decision hashes its key once.
func (m *Memory) shard(k *Key) (*shard, uint64) {
	h := maphash.Comparable(m.seed, *k)
	return &m.shards[h%shards], h
}

// find returns k's counter and the map index it is (or would be) at.
// Keys whose hashes collide (a chance of 2^-64 a pair, and the seed is
// secret) take the next free index.
func (s *shard) find(k *Key, h uint64) (*entry, uint64) {
	for {
		e := s.m[h]
		if e == nil || e.key == *k {
			return e, h
		}
		h++
	}
}

// Do implements Store.
func (m *Memory) Do(ctx context.Context, now time.Time, ops []Op) error {
	t := now.UnixMicro()
	for i := range ops {
		m.do(t, &ops[i])
	}
	return nil
}

func (m *Memory) do(now int64, op *Op) {
	s, h := m.shard(&op.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, h := s.find(&op.Key, h) // one map access on the common path: e is changed in place
	switch op.Kind {
	case Take, Peek:
		var tat int64
		if e != nil {
			tat = e.tat
		}
		iv, burst := op.Rate.interval()
		nt, ok, retry, left := gcra(tat, now, iv, burst, int64(op.N))
		op.OK, op.Left, op.Retry = ok, int(left), time.Duration(retry)*time.Microsecond
		if ok && op.Kind == Take && nt > now {
			if e == nil {
				e = s.add(op.Key, h, now)
			}
			e.tat = nt
		}
	case Acquire:
		ttl := max(op.TTL.Microseconds(), 1)
		held := false
		if e != nil {
			held = e.prune(now, op.Lease, now+ttl)
		}
		if !held && (e == nil || len(e.leases) < op.Max) && op.Max > 0 {
			if e == nil {
				e = s.add(op.Key, h, now)
			}
			e.leases = append(e.leases, lease{op.Lease, now + ttl})
			held = true
		}
		op.OK = held
		if e != nil {
			op.Left = len(e.leases)
			if len(e.leases) == 0 && e.tat <= now {
				delete(s.m, h)
			}
		}
	case Release:
		op.OK = true
		if e == nil {
			return
		}
		e.prune(now, op.Lease, -1)
		op.Left = len(e.leases)
		if len(e.leases) == 0 && e.tat <= now {
			delete(s.m, h)
		}
	}
}

// prune drops the expired leases and the lease named name if renew < 0;
// otherwise it renews that lease to expire at renew and reports whether
// it was held.
func (e *entry) prune(now int64, name string, renew int64) (held bool) {
	live := e.leases[:0]
	for _, l := range e.leases {
		if l.expires <= now {
			continue
		}
		if l.name == name {
			if renew < 0 {
				continue
			}
			l.expires, held = renew, true
		}
		live = append(live, l)
	}
	clear(e.leases[len(live):])
	e.leases = live
	return held
}

// add adds an empty counter for k, making room first if the shard is
// full.
func (s *shard) add(k Key, h uint64, now int64) *entry {
	if len(s.m) >= s.bound {
		s.evict(now)
	}
	e := &entry{key: k}
	s.m[h] = e
	return e
}

// evict drops the counters that are idle among those a map iteration
// visits first (a random place), at most sampleSize of them, or, if none
// is idle, the sampled one that becomes idle soonest.
func (s *shard) evict(now int64) {
	const sampleSize = 8
	var oldest uint64
	oldestAt := int64(-1)
	n, dropped := 0, false
	for k, e := range s.m {
		at := e.idleAt()
		if at <= now {
			delete(s.m, k)
			dropped = true
		} else if oldestAt < 0 || at < oldestAt {
			oldest, oldestAt = k, at
		}
		if n++; n == sampleSize {
			break
		}
	}
	if !dropped && oldestAt >= 0 {
		delete(s.m, oldest)
	}
}

// idleAt is when the counter stops carrying information: a rate counter
// when its theoretical arrival time passes, a concurrency counter when
// its last lease expires.
func (e *entry) idleAt() int64 {
	at := e.tat
	for _, l := range e.leases {
		at = max(at, l.expires)
	}
	return at
}
