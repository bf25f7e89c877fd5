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
	m     map[Key]entry
	bound int
}

// entry is one counter: a rate counter's theoretical arrival time, or a
// concurrency counter's leases. Times in microseconds.
type entry struct {
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
		m.shards[i].m = make(map[Key]entry)
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

func (m *Memory) shard(k *Key) *shard {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(k.Rule)
	h.WriteByte(byte(k.Counter))
	if k.Prefix.IsValid() {
		a := k.Prefix.Addr().As16()
		h.Write(a[:])
		h.WriteByte(byte(k.Prefix.Bits()))
	}
	h.WriteString(k.Name)
	return &m.shards[h.Sum64()%shards]
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
	s := m.shard(&op.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.m[op.Key]
	switch op.Kind {
	case Take, Peek:
		iv, burst := op.Rate.interval()
		nt, ok, retry, left := gcra(e.tat, now, iv, burst, int64(op.N))
		op.OK, op.Left, op.Retry = ok, int(left), time.Duration(retry)*time.Microsecond
		if ok && op.Kind == Take && nt > now {
			e.tat = nt
			s.put(op.Key, e, found, now)
		}
	case Acquire:
		ttl := max(op.TTL.Microseconds(), 1)
		live := e.leases[:0]
		held := false
		for _, l := range e.leases {
			if l.expires <= now {
				continue
			}
			if l.name == op.Lease {
				l.expires, held = now+ttl, true
			}
			live = append(live, l)
		}
		clear(e.leases[len(live):])
		e.leases = live
		if !held && len(live) < op.Max {
			e.leases = append(e.leases, lease{op.Lease, now + ttl})
			held = true
		}
		op.OK, op.Left = held, len(e.leases)
		if len(e.leases) > 0 {
			s.put(op.Key, e, found, now)
		} else if found {
			delete(s.m, op.Key)
		}
	case Release:
		live := e.leases[:0]
		for _, l := range e.leases {
			if l.expires > now && l.name != op.Lease {
				live = append(live, l)
			}
		}
		clear(e.leases[len(live):])
		e.leases = live
		op.OK, op.Left = true, len(live)
		if len(live) > 0 {
			s.m[op.Key] = e
		} else if found {
			delete(s.m, op.Key)
		}
	}
}

// put stores e under k, making room first if k is new and the shard full.
func (s *shard) put(k Key, e entry, found bool, now int64) {
	if !found && len(s.m) >= s.bound {
		s.evict(now)
	}
	s.m[k] = e
}

// evict drops the counters that are idle among those a map iteration
// visits first (a random place), at most sampleSize of them, or, if none
// is idle, the sampled one that becomes idle soonest.
func (s *shard) evict(now int64) {
	const sampleSize = 8
	var oldest Key
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
