package verify

import (
	"context"
	"sync"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Cache keeps the results of callouts, keyed by address (the local part as
// written, the domain in lower case). Implementations must be safe for
// concurrent use. A Cache error makes the Callout probe as if there were
// no entry: a cache is never a reason to refuse mail.
type Cache interface {
	// Get returns the entry for address. An expired entry may be
	// returned; the Callout ignores it.
	Get(ctx context.Context, address string) (Entry, bool, error)
	// Put stores the entry for address until e.Expires.
	Put(ctx context.Context, address string, e Entry) error
}

// Entry is one cached result.
type Entry struct {
	Status  verdict.Status
	Reason  string
	Expires time.Time
}

// DefaultMaxEntries bounds a MemoryCache made by NewMemoryCache.
const DefaultMaxEntries = 100_000

// MemoryCache is an in-process Cache, bounded: when full, expired entries
// go first, then the oldest. Create it with NewMemoryCache or
// NewMemoryCacheSize.
type MemoryCache struct {
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]memEntry
	// order holds the keys in the order they were stored; a key stored
	// again appears again, and only its last place (seq) counts.
	order []orderKey
	head  int
	seq   uint64
}

type memEntry struct {
	e   Entry
	seq uint64
}

type orderKey struct {
	key string
	seq uint64
}

// NewMemoryCache returns a MemoryCache of DefaultMaxEntries entries.
func NewMemoryCache() *MemoryCache { return NewMemoryCacheSize(DefaultMaxEntries) }

// NewMemoryCacheSize returns a MemoryCache of at most n entries (at
// least 1).
func NewMemoryCacheSize(n int) *MemoryCache {
	return &MemoryCache{max: max(n, 1), now: time.Now, m: map[string]memEntry{}}
}

// Get returns the entry for address.
func (c *MemoryCache) Get(_ context.Context, address string) (Entry, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	me, ok := c.m[address]
	if !ok || !c.now().Before(me.e.Expires) {
		return Entry{}, false, nil
	}
	return me.e, true, nil
}

// Put stores the entry, displacing the oldest when the cache is full.
func (c *MemoryCache) Put(_ context.Context, address string, e Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if _, ok := c.m[address]; !ok {
		for len(c.m) >= c.max && c.head < len(c.order) {
			c.dropOldest()
		}
	}
	c.m[address] = memEntry{e: e, seq: c.seq}
	c.order = append(c.order, orderKey{address, c.seq})
	// Compact the queue when it holds twice as many places as there can
	// be entries: the dead ones go (places of keys stored again since,
	// or dropped), so that storing one key over and over cannot grow it.
	if len(c.order)-c.head > 2*c.max {
		live := c.order[:0:0]
		for _, k := range c.order[c.head:] {
			if me, ok := c.m[k.key]; ok && me.seq == k.seq {
				live = append(live, k)
			}
		}
		c.order, c.head = live, 0
	}
	return nil
}

// dropOldest removes the entry at the head of the queue, if the queue
// place is still its latest.
func (c *MemoryCache) dropOldest() {
	k := c.order[c.head]
	c.order[c.head] = orderKey{}
	c.head++
	if me, ok := c.m[k.key]; ok && me.seq == k.seq {
		delete(c.m, k.key)
	}
}

// Len returns the number of entries held, expired ones included.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
