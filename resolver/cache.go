package resolver

import (
	"hash/maphash"
	"sync"
	"time"
)

type cacheKey struct {
	name  string // lower-case, without the trailing dot
	qtype uint16
}

type cacheEntry struct {
	a       *answer
	err     error // a cached failure (SERVFAIL), kept only briefly
	expires time.Time
}

// cache is a bounded map of answers, split into shards so that concurrent
// sessions seldom wait on one another's lock. A full shard evicts an expired
// entry if the first few it looks at include one, and otherwise an
// arbitrary one (Go's map iteration order is random), which keeps every
// operation O(1) and the size bounded whatever the key pattern.
type cache struct {
	seed   maphash.Seed
	shards []cacheShard
}

// maxShards bounds the number of shards; a small cache has fewer, so that
// it never holds more than its size.
const maxShards = 32

type cacheShard struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry
}

// newCache returns a cache of at most size entries (size > 0).
func newCache(size int) *cache {
	n := min(size, maxShards)
	c := &cache{seed: maphash.MakeSeed(), shards: make([]cacheShard, n)}
	for i := range c.shards {
		// Spread size over the shards exactly: the first size%n get one more.
		c.shards[i].max = size / n
		if i < size%n {
			c.shards[i].max++
		}
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	return &c.shards[maphash.String(c.seed, k.name)%uint64(len(c.shards))]
}

// get returns the answer or the failure cached for k, if it has not
// expired at now.
func (c *cache) get(k cacheKey, now time.Time) (*answer, error, bool) {
	s := c.shard(k)
	s.mu.Lock()
	e, ok := s.m[k]
	if ok && !now.Before(e.expires) {
		delete(s.m, k)
		ok = false
	}
	s.mu.Unlock()
	return e.a, e.err, ok
}

// put caches a or err for k until expires; now is the time, for eviction.
func (c *cache) put(k cacheKey, a *answer, err error, expires, now time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= s.max {
		var victim cacheKey
		looked := 0
		for key, e := range s.m {
			victim = key
			if looked++; !now.Before(e.expires) || looked >= 4 {
				break
			}
		}
		delete(s.m, victim)
	}
	s.m[k] = cacheEntry{a: a, err: err, expires: expires}
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
