package verify

import (
	"context"
	"sync"
	"time"
)

// maxIdleDomains is how many domains the limiter keeps state for before it
// forgets the idle ones, so that probes of many domains cannot grow it
// without bound.
const maxIdleDomains = 10000 // more domains in flight or refilling: errBusy

// limiter bounds the probes of each domain: at most per in flight, and a
// token bucket of burst tokens refilled at rate a second.
type limiter struct {
	per   int
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	domains map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	active int
	free   chan struct{} // closed when a probe ends; nil when no one waits
}

func newLimiter(per int, rate float64, burst int) *limiter {
	return &limiter{per: per, rate: rate, burst: float64(burst), now: time.Now, domains: map[string]*bucket{}}
}

// acquire takes a token of domain's bucket and waits for a free slot. It
// fails at once when the bucket is empty, and when ctx is done before a
// slot frees.
func (l *limiter) acquire(ctx context.Context, domain string) (release func(), err error) {
	l.mu.Lock()
	now := l.now()
	b := l.domains[domain]
	if b == nil {
		if len(l.domains) >= maxIdleDomains {
			l.sweep(now)
			if len(l.domains) >= maxIdleDomains {
				l.mu.Unlock()
				return nil, errBusy
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.domains[domain] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		l.mu.Unlock()
		return nil, errRate
	}
	b.tokens--
	for b.active >= l.per {
		if b.free == nil {
			b.free = make(chan struct{})
		}
		free := b.free
		l.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return nil, errBusy
		}
		l.mu.Lock()
	}
	b.active++
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		b.active--
		if b.free != nil {
			close(b.free)
			b.free = nil
		}
		l.mu.Unlock()
	}, nil
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(l.burst, b.tokens+d*l.rate)
		b.last = now
	}
}

// sweep forgets the domains with no probe in flight and a full bucket:
// forgetting them changes nothing.
func (l *limiter) sweep(now time.Time) {
	for d, b := range l.domains {
		l.refill(b, now)
		if b.active == 0 && b.tokens >= l.burst {
			delete(l.domains, d)
		}
	}
}
