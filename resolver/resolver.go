// Package resolver is a DNS stub resolver built on github.com/miekg/dns for
// mtaguard's checks: it has the lookup methods of *net.Resolver that the
// checks use, with the same signatures and the same error classes
// (*net.DNSError with IsNotFound, IsTimeout, IsTemporary), and adds what a
// border MTA under load needs and net does not give: a bounded cache that
// honours TTLs and caches negative answers (RFC 2308), one upstream query
// for identical concurrent lookups, EDNS0 with TCP fallback, retries across
// servers, and counters of the traffic it causes.
//
// Every check package declares its own small Resolver interface, and
// *Resolver satisfies all of them, as net.DefaultResolver does.
//
// Errors are classified as net's pure Go resolver classifies them, with one
// deliberate difference: a REFUSED answer (and any other unexpected RCODE)
// is temporary, where net calls it permanent, because a DNS failure must
// never become evidence against a client. A lookup abandoned because its
// context was canceled is temporary too.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Defaults of a Config's zero fields.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultCacheSize = 10000
	DefaultAttempts  = 2
)

// Exchanger answers one DNS query. The resolver normally sends queries to
// the configured servers over UDP and TCP; a Config with an Exchanger sends
// them there instead (resolvertest uses this to answer from zone text).
type Exchanger interface {
	Exchange(ctx context.Context, query *dns.Msg) (*dns.Msg, error)
}

// Config configures a Resolver. The zero value uses the servers of
// /etc/resolv.conf with the defaults above.
type Config struct {
	// Servers are the recursive resolvers to ask, as "host:port" (a host
	// without a port means port 53). Empty means the nameservers of
	// /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server. Zero means DefaultTimeout.
	Timeout time.Duration
	// Attempts is how many rounds over all servers a query gets before it
	// fails. Zero means DefaultAttempts.
	Attempts int
	// CacheSize bounds the number of cached answers. Zero means
	// DefaultCacheSize. A negative value turns off caching of every kind:
	// no cache, and identical concurrent lookups are not shared either,
	// so that every lookup is a query.
	CacheSize int
	// MaxTTL caps how long any answer is cached. Zero means one day.
	MaxTTL time.Duration
	// Exchanger, if set, answers every query instead of Servers.
	Exchanger Exchanger
}

// Resolver is a caching DNS stub resolver. It is safe for concurrent use.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
	maxTTL   time.Duration
	exchange Exchanger
	cache    *cache // nil: no cache and no sharing (CacheSize < 0)
	stats    counters
	now      func() time.Time // the clock of the cache; tests replace it

	mu    sync.Mutex
	calls map[cacheKey]*call // queries in flight, for sharing
}

// New returns a Resolver configured by cfg.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{
		timeout:  cfg.Timeout,
		attempts: cfg.Attempts,
		maxTTL:   cfg.MaxTTL,
		exchange: cfg.Exchanger,
		now:      time.Now,
		calls:    make(map[cacheKey]*call),
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.attempts <= 0 {
		r.attempts = DefaultAttempts
	}
	if r.maxTTL <= 0 {
		r.maxTTL = 24 * time.Hour
	}
	switch {
	case cfg.CacheSize == 0:
		r.cache = newCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		r.cache = newCache(cfg.CacheSize)
	}
	if r.exchange == nil {
		servers := cfg.Servers
		if len(servers) == 0 {
			cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
			if err != nil {
				return nil, fmt.Errorf("resolver: no servers configured and %w", err)
			}
			for _, s := range cc.Servers {
				servers = append(servers, net.JoinHostPort(s, cc.Port))
			}
		}
		for _, s := range servers {
			if _, _, err := net.SplitHostPort(s); err != nil {
				s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
			}
			r.servers = append(r.servers, s)
		}
		if len(r.servers) == 0 {
			return nil, errors.New("resolver: no DNS servers")
		}
		r.exchange = &wire{servers: r.servers, timeout: r.timeout, attempts: r.attempts, stats: &r.stats}
	} else {
		r.exchange = timed{r.exchange, r.timeout}
	}
	return r, nil
}

// Stats counts a resolver's work since it was made.
type Stats struct {
	Lookups   uint64 // (name, type) lookups asked of the resolver
	CacheHits uint64 // lookups answered from the cache
	Shared    uint64 // lookups that joined an identical query already in flight
	Queries   uint64 // queries sent upstream (one per lookup that missed, retries not counted)
	Sent      uint64 // DNS messages sent over the wire, retries and TCP fallbacks included
	Failures  uint64 // queries that ended in a timeout, SERVFAIL, REFUSED or other error

	CacheEntries int // answers in the cache now, expired ones not yet evicted included; at most Config.CacheSize
}

type counters struct {
	lookups, hits, shared, queries, sent, failures atomic.Uint64
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() Stats {
	return Stats{
		Lookups:   r.stats.lookups.Load(),
		CacheHits: r.stats.hits.Load(),
		Shared:    r.stats.shared.Load(),
		Queries:   r.stats.queries.Load(),
		Sent:      r.stats.sent.Load(),
		Failures:  r.stats.failures.Load(),

		CacheEntries: r.cacheLen(),
	}
}

func (r *Resolver) cacheLen() int {
	if r.cache == nil {
		return 0
	}
	return r.cache.len()
}

// call is a query in flight that identical lookups wait for.
type call struct {
	done    chan struct{} // closed when a and err are set
	a       *answer
	err     error
	waiters int                // lookups waiting, guarded by Resolver.mu
	cancel  context.CancelFunc // ends the query when no lookup waits any more
}

// lookup answers (name, qtype) from the cache, from an identical query in
// flight, or upstream. name is a cache key (see canonical).
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*answer, error) {
	r.stats.lookups.Add(1)
	k := cacheKey{name, qtype}
	if r.cache != nil {
		if a, err, ok := r.cache.get(k, r.now()); ok {
			r.stats.hits.Add(1)
			return a, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(name, err)
	}
	if r.cache == nil {
		return r.resolve(ctx, name, qtype)
	}
	r.mu.Lock()
	c, ok := r.calls[k]
	if ok {
		c.waiters++
		r.stats.shared.Add(1)
	} else {
		// The query must not die with the lookup that started it, for
		// others may join; it ends when its attempts are spent, or when
		// every lookup waiting for it has given up.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.queryTimeout())
		c = &call{done: make(chan struct{}), waiters: 1, cancel: cancel}
		r.calls[k] = c
		go r.run(qctx, k, c)
	}
	r.mu.Unlock()
	select {
	case <-c.done:
		return c.a, c.err
	case <-ctx.Done():
		r.mu.Lock()
		if c.waiters--; c.waiters == 0 {
			c.cancel()
			if r.calls[k] == c {
				delete(r.calls, k)
			}
		}
		r.mu.Unlock()
		return nil, ctxError(name, ctx.Err())
	}
}

func (r *Resolver) run(ctx context.Context, k cacheKey, c *call) {
	c.a, c.err = r.resolve(ctx, k.name, k.qtype)
	c.cancel()
	r.mu.Lock()
	if r.calls[k] == c {
		delete(r.calls, k)
	}
	r.mu.Unlock()
	close(c.done)
}

// queryTimeout bounds a shared query: every attempt at every server timing
// out, and some slack for the TCP fallback.
func (r *Resolver) queryTimeout() time.Duration {
	return r.timeout * time.Duration(r.attempts*max(1, len(r.servers))+1)
}

// timed bounds each query to a caller's Exchanger by the resolver's timeout.
type timed struct {
	Exchanger
	timeout time.Duration
}

func (t timed) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.Exchanger.Exchange(ctx, q)
}
