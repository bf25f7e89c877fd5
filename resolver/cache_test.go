package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// clock is a fake time for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const ttlZone = `
$ORIGIN example.org.
$TTL 300
@        SOA   ns hostmaster 1 7200 3600 1209600 60
short 30 TXT   "thirty seconds"
long     TXT   "five minutes"
alias 10 CNAME long
v4       A     192.0.2.4
broken   A     192.0.2.1
refused  A     192.0.2.2
slow     A     192.0.2.3
$ORIGIN lowsoa.example.
@     20 SOA   ns hostmaster 1 7200 3600 1209600 60
$ORIGIN nosoa.example.
x        A     192.0.2.5
`

// Answers are cached for their TTL, the smallest of the records used
// (RFC 1035 §3.2.1, RFC 2181 §5.2), negative answers for the smaller of
// the SOA's TTL and MINIMUM (RFC 2308 §5), or 5s without an SOA; SERVFAIL
// for 2 seconds; REFUSED and timeouts not at all; nothing longer than
// MaxTTL.
func TestCacheTTL(t *testing.T) {
	tests := []struct {
		name, typ string
		err       string        // the error class, "" for an answer
		ttl       time.Duration // 0: not cached
		maxTTL    time.Duration
	}{
		{"short.example.org", "TXT", "", 30 * time.Second, 0},
		{"long.example.org", "TXT", "", 300 * time.Second, 0},
		{"long.example.org", "TXT", "", 100 * time.Second, 100 * time.Second},
		{"alias.example.org", "TXT", "", 10 * time.Second, 0},
		{"nosuch.example.org", "TXT", "notfound", 60 * time.Second, 0}, // NXDOMAIN
		{"v4.example.org", "TXT", "notfound", 60 * time.Second, 0},     // NODATA
		{"x.lowsoa.example", "TXT", "notfound", 20 * time.Second, 0},   // SOA TTL < MINIMUM
		{"x.nosoa.example", "TXT", "notfound", 5 * time.Second, 0},     // no SOA
		{"broken.example.org", "TXT", "temporary", 2 * time.Second, 0}, // SERVFAIL
		{"refused.example.org", "TXT", "temporary", 0, 0},              // REFUSED
		{"slow.example.org", "TXT", "temporary+timeout", 0, 0},         // timeout
		{"v4.example.org", "A", "", 300 * time.Second, 0},              //
		{"broken.example.org", "A", "temporary", 2 * time.Second, 0},   //
		{"Short.EXAMPLE.org.", "TXT", "", 30 * time.Second, 0},         // case and dot do not matter
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.typ+"/"+tt.maxTTL.String(), func(t *testing.T) {
			t.Parallel()
			z, srv := serve(t, ttlZone)
			z.SetFault("broken.example.org", resolvertest.ServFail)
			z.SetFault("refused.example.org", resolvertest.Refused)
			z.SetFault("slow.example.org", resolvertest.Timeout)
			r := client(t, resolver.Config{Timeout: 500 * time.Millisecond, Attempts: 1, MaxTTL: tt.maxTTL}, srv.Addr)
			c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			r.SetClock(c.now)
			qtype := dns.StringToType[tt.typ]
			look := func() error {
				var err error
				if qtype == dns.TypeTXT {
					_, err = r.LookupTXT(context.Background(), tt.name)
				} else {
					_, err = r.LookupNetIP(context.Background(), "ip4", tt.name)
				}
				return err
			}
			queries := func() int { return z.Queries(tt.name, qtype) }

			if err := look(); class(err) != or(tt.err, "ok") {
				t.Fatalf("got %v (%s), want %s", err, class(err), or(tt.err, "ok"))
			}
			if queries() != 1 {
				t.Fatalf("%d queries, want 1", queries())
			}
			if tt.ttl == 0 {
				if err := look(); class(err) != or(tt.err, "ok") || queries() != 2 {
					t.Errorf("second lookup: %v, %d queries; want not cached", err, queries())
				}
				return
			}
			c.advance(tt.ttl - time.Second)
			if err := look(); class(err) != or(tt.err, "ok") || queries() != 1 {
				t.Errorf("just before the TTL ends: %v, %d queries; want a cache hit", err, queries())
			}
			c.advance(time.Second)
			if err := look(); class(err) != or(tt.err, "ok") || queries() != 2 {
				t.Errorf("when the TTL ends: %v, %d queries; want a new query", err, queries())
			}
			if s := r.Stats(); s.Lookups != 3 || s.CacheHits != 1 || s.Queries != 2 {
				t.Errorf("stats %+v, want 3 lookups, 1 hit, 2 queries", s)
			}
		})
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// A cache hit on a failure gives the same class of error, naming the name
// asked, and callers cannot change the cached error.
func TestCachedError(t *testing.T) {
	z, srv := serve(t, zone)
	r := client(t, resolver.Config{Attempts: 1}, srv.Addr)
	ctx := context.Background()
	_, err1 := r.LookupTXT(ctx, "broken.example.org")
	_, err2 := r.LookupTXT(ctx, "BROKEN.example.org.")
	var de1, de2 *net.DNSError
	if !errors.As(err1, &de1) || !errors.As(err2, &de2) {
		t.Fatalf("errors %T, %T; want *net.DNSError", err1, err2)
	}
	if de1 == de2 || !de2.IsTemporary || de2.Name != "BROKEN.example.org." {
		t.Errorf("second error %+v: want a temporary copy naming BROKEN.example.org.", de2)
	}
	if n := z.Queries("broken.example.org", dns.TypeTXT); n != 1 {
		t.Errorf("%d queries, want 1", n)
	}
}

// Identical concurrent lookups share one query.
func TestShared(t *testing.T) {
	z, srv := serve(t, zone)
	z.SetLatency(50 * time.Millisecond)
	r := client(t, resolver.Config{}, srv.Addr)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			txt, err := r.LookupTXT(context.Background(), "example.org")
			if err == nil && len(txt) != 2 {
				err = errors.New("wrong answer")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := z.Queries("example.org", dns.TypeTXT); q != 1 {
		t.Errorf("server got %d queries, want 1", q)
	}
	s := r.Stats()
	if s.Lookups != n || s.Queries != 1 || s.Sent != 1 || s.Shared+s.CacheHits != n-1 {
		t.Errorf("stats %+v, want %d lookups, 1 query, 1 sent, %d shared or hits", s, n, n-1)
	}
}

// A lookup returns when its context ends, with net's errors, whether it
// waits for a shared query or its own.
func TestContext(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprint("CacheSize", size), func(t *testing.T) { testContext(t, size) })
	}
}

func testContext(t *testing.T, cacheSize int) {
	z, srv := serve(t, zone)
	z.SetLatency(time.Hour)
	r := client(t, resolver.Config{Timeout: time.Hour, CacheSize: cacheSize}, srv.Addr)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := r.LookupTXT(ctx, "example.org")
	var de *net.DNSError
	if !errors.As(err, &de) || !errors.Is(err, context.Canceled) || !de.IsTemporary || de.IsNotFound || de.Name != "example.org" {
		t.Errorf("canceled: %#v; want a temporary *net.DNSError for example.org wrapping context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = r.LookupMX(ctx, "example.org")
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) || !de.IsTimeout || !de.IsTemporary {
		t.Errorf("deadline: %#v; want a timeout wrapping context.DeadlineExceeded", err)
	}

	// Already ended: no query at all.
	z.ResetQueries()
	_, err = r.LookupTXT(ctx, "v4.example.org")
	if !errors.Is(err, context.DeadlineExceeded) || z.TotalQueries() != 0 {
		t.Errorf("ended context: %v, %d queries; want an error and none", err, z.TotalQueries())
	}
}

// blocker is an Exchanger that answers nothing until its context ends,
// and tells when it does.
type blocker struct{ ended chan struct{} }

func (b blocker) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	<-ctx.Done()
	close(b.ended)
	return nil, ctx.Err()
}

// A shared query is not canceled while a lookup waits for it, and is
// canceled as soon as none does.
func TestSharedCancel(t *testing.T) {
	b := blocker{make(chan struct{})}
	r, err := resolver.New(resolver.Config{Exchanger: b, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithCancel(context.Background())
	long, cancelLong := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { _, err := r.LookupTXT(short, "example.org"); done <- err }()
	go func() { _, err := r.LookupTXT(long, "example.org"); done <- err }()
	for deadline := time.Now().Add(10 * time.Second); r.Stats().Shared == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the lookups did not share the query")
		}
		time.Sleep(time.Millisecond)
	}
	cancelShort()
	<-done
	select {
	case <-b.ended:
		t.Fatal("query canceled while a lookup still waits for it")
	case <-time.After(20 * time.Millisecond):
	}
	cancelLong()
	<-done
	select {
	case <-b.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("query not canceled when no lookup waits any more")
	}
	if s := r.Stats(); s.Shared != 1 || s.Queries != 1 {
		t.Errorf("stats %+v, want 1 shared, 1 query", s)
	}
}

// CacheSize < 0 turns off the cache and the sharing: every lookup is a query.
func TestNoCache(t *testing.T) {
	z, srv := serve(t, zone)
	z.SetLatency(20 * time.Millisecond)
	r := client(t, resolver.Config{CacheSize: -1}, srv.Addr)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := r.LookupTXT(context.Background(), "example.org"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := z.Queries("example.org", dns.TypeTXT); n != 5 {
		t.Errorf("%d queries, want 5", n)
	}
	if s := r.Stats(); s.CacheHits != 0 || s.Shared != 0 {
		t.Errorf("stats %+v, want no hits, nothing shared", s)
	}
}

// The cache holds at most CacheSize answers.
func TestCacheBound(t *testing.T) {
	for _, size := range []int{1, 5, 100} {
		_, srv := serve(t, zone)
		r := client(t, resolver.Config{CacheSize: size}, srv.Addr)
		for i := range 3 * size {
			r.LookupTXT(context.Background(), fmt.Sprintf("n%d.example.org", i))
		}
		if n := r.CacheLen(); n > size || n < size/2 {
			t.Errorf("CacheSize %d: %d entries", size, n)
		}
	}
}
