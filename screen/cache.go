package screen

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Cache remembers which tests a client address has passed, until when,
// and the findings noted with the passes (tests failed but ignored by the
// Options). Caches must be safe for concurrent use.
type Cache interface {
	// Lookup returns the tests ip passed that have not expired at now,
	// and the findings noted with them.
	Lookup(ctx context.Context, ip netip.Addr, now time.Time) (passed, noted Test, err error)
	// Pass records that ip passed tests, noting the findings noted (a
	// subset of tests), until the time given.
	Pass(ctx context.Context, ip netip.Addr, tests, noted Test, until, now time.Time) error
}

// DefaultCacheSize is the number of addresses a memory cache keeps at
// most when NewMemoryCache is given 0.
const DefaultCacheSize = 100000

// NewMemoryCache returns a Cache in the process's memory that keeps at
// most size addresses (0 means DefaultCacheSize). When it is full, an
// expired record goes first, else one at random.
func NewMemoryCache(size int) *MemoryCache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &MemoryCache{size: size, m: make(map[netip.Addr]*record)}
}

// MemoryCache is a Cache in memory.
type MemoryCache struct {
	mu   sync.Mutex
	size int
	m    map[netip.Addr]*record
}

// record holds, per test (bit i), until when it passed and whether a
// finding was noted with the pass; times in Unix microseconds.
type record struct {
	until [len(testNames)]int64
	noted Test
}

// Lookup implements Cache.
func (c *MemoryCache) Lookup(_ context.Context, ip netip.Addr, now time.Time) (passed, noted Test, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.m[ip]
	if r == nil {
		return 0, 0, nil
	}
	t := now.UnixMicro()
	for i, u := range r.until {
		if u > t {
			passed |= 1 << i
		}
	}
	return passed, r.noted & passed, nil
}

// Pass implements Cache.
func (c *MemoryCache) Pass(_ context.Context, ip netip.Addr, tests, noted Test, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.m[ip]
	if r == nil {
		if len(c.m) >= c.size {
			c.evict(now.UnixMicro())
		}
		r = &record{}
		c.m[ip] = r
	}
	u := until.UnixMicro()
	for i := range r.until {
		if tests&(1<<i) != 0 {
			r.until[i] = u
		}
	}
	r.noted = r.noted&^tests | noted&tests
	return nil
}

// Len returns the number of addresses held.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *MemoryCache) evict(now int64) {
	n := 0
	var victim netip.Addr
	for ip, r := range c.m {
		if max(r.until[0], r.until[1], r.until[2], r.until[3]) <= now {
			delete(c.m, ip)
			return
		}
		if n == 0 {
			victim = ip
		}
		if n++; n == 8 {
			break
		}
	}
	delete(c.m, victim)
}

// DefaultRedisPrefix begins the names of the keys a Redis cache uses.
const DefaultRedisPrefix = "mtaguard:screen:"

// NewRedisCache returns a Cache in Redis, shared by several screens,
// under keys that begin with prefix ("" means DefaultRedisPrefix). An
// address is a hash at PREFIX{ADDRESS} with a field per passed test (its
// expiry) and per noted finding; the key's TTL is its longest expiry.
func NewRedisCache(c redis.UniversalClient, prefix string) *RedisCache {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisCache{c: c, prefix: prefix}
}

// RedisCache is a Cache in Redis.
type RedisCache struct {
	c      redis.UniversalClient
	prefix string
}

func (c *RedisCache) key(ip netip.Addr) string { return c.prefix + "{" + ip.String() + "}" }

// Lookup implements Cache.
func (c *RedisCache) Lookup(ctx context.Context, ip netip.Addr, now time.Time) (passed, noted Test, err error) {
	m, err := c.c.HGetAll(ctx, c.key(ip)).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("screen: redis: %w", err)
	}
	t := now.UnixMicro()
	for i := range testNames {
		u, _ := strconv.ParseInt(m["p"+strconv.Itoa(i)], 10, 64)
		if u > t {
			passed |= 1 << i
			if m["n"+strconv.Itoa(i)] == "1" {
				noted |= 1 << i
			}
		}
	}
	return passed, noted, nil
}

// passScript sets the fields of a pass and makes the key's TTL its
// longest expiry. KEYS: the address's hash. ARGV: the TTL in
// milliseconds, then field, value pairs.
var passScript = redis.NewScript(`
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
end
local ttl = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
`)

// Pass implements Cache.
func (c *RedisCache) Pass(ctx context.Context, ip netip.Addr, tests, noted Test, until, now time.Time) error {
	ttl := until.Sub(now).Milliseconds()
	if tests == 0 || ttl <= 0 {
		return nil
	}
	args := []any{ttl}
	u := strconv.FormatInt(until.UnixMicro(), 10)
	for i := range testNames {
		if tests&(1<<i) == 0 {
			continue
		}
		n := "0"
		if noted&(1<<i) != 0 {
			n = "1"
		}
		args = append(args, "p"+strconv.Itoa(i), u, "n"+strconv.Itoa(i), n)
	}
	if err := passScript.Run(ctx, c.c, []string{c.key(ip)}, args...).Err(); err != nil {
		return fmt.Errorf("screen: redis: %w", err)
	}
	return nil
}
