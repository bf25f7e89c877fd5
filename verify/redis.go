package verify

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtaguard/mtaguard/verdict"
)

// DefaultRedisPrefix begins the names of the keys of a RedisCache.
const DefaultRedisPrefix = "mtaguard:verify:"

// RedisCache is a Cache in Redis, shared by every MX host that uses the
// same server and prefix, so that an address verified by one is known to
// all. A lookup is one GET, a store one SET with the entry's lifetime as
// its expiry, so Redis drops expired entries itself.
type RedisCache struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedisCache returns a Cache that keeps its entries in c under keys
// that begin with prefix ("" means DefaultRedisPrefix).
func NewRedisCache(c redis.UniversalClient, prefix string) *RedisCache {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisCache{c: c, prefix: prefix}
}

// An entry is stored as "status expiry-unix-ms reason".

// Get returns the entry for address.
func (r *RedisCache) Get(ctx context.Context, address string) (Entry, bool, error) {
	v, err := r.c.Get(ctx, r.prefix+address).Result()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, err
	}
	e, ok := decodeEntry(v)
	return e, ok, nil
}

// Put stores the entry for address until e.Expires.
func (r *RedisCache) Put(ctx context.Context, address string, e Entry) error {
	ttl := time.Until(e.Expires)
	if ttl <= 0 {
		return nil
	}
	return r.c.Set(ctx, r.prefix+address, encodeEntry(e), ttl).Err()
}

func encodeEntry(e Entry) string {
	return strconv.Itoa(int(e.Status)) + " " + strconv.FormatInt(e.Expires.UnixMilli(), 10) + " " + e.Reason
}

// decodeEntry reads an entry; anything else in the key (another program's
// value) is no entry.
func decodeEntry(v string) (Entry, bool) {
	st, rest, ok1 := strings.Cut(v, " ")
	exp, reason, ok2 := strings.Cut(rest, " ")
	s, err1 := strconv.Atoi(st)
	ms, err2 := strconv.ParseInt(exp, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || s < int(verdict.None) || s > int(verdict.PermError) {
		return Entry{}, false
	}
	return Entry{Status: verdict.Status(s), Reason: verdict.Printable(reason), Expires: time.UnixMilli(ms)}, true
}
