package resolver

import (
	"hash/maphash"
	"sync"
	"time"
)

type cacheKey struct {
	name  string
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
	shards [cacheShards]cacheShard
}

const cacheShards = 32

type cacheShard struct {
	mu  sync.Mutex
	max int
	m   map[cacheKey]cacheEntry
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max(1, (size+cacheShards-1)/cacheShards)
	for i := range c.shards {
		c.shards[i].max = per
		c.shards[i].m = make(map[cacheKey]cacheEntry)
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	return &c.shards[maphash.String(c.seed, k.name)%cacheShards]
}

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

func (c *cache) put(k cacheKey, a *answer, err error, expires time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= s.max {
		now := time.Now()
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
