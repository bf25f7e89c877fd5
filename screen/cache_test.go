package screen

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/redistest"
)

func TestMain(m *testing.M) {
	redistest.Quiet()
	os.Exit(m.Run())
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testCache is the suite every Cache passes.
func testCache(t *testing.T, c Cache) {
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")
	look := func(at time.Time) (Test, Test) {
		t.Helper()
		p, n, err := c.Lookup(ctx, ip, at)
		if err != nil {
			t.Fatal(err)
		}
		return p, n
	}
	if p, n := look(t0); p != 0 || n != 0 {
		t.Fatalf("new: %v %v", p, n)
	}
	if err := c.Pass(ctx, ip, Pregreet, 0, t0.Add(time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Pass(ctx, ip, DeepTests, BareLF, t0.Add(30*time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	if p, n := look(t0); p != AllTests || n != BareLF {
		t.Fatalf("passed: %v %v", p, n)
	}
	// Each test expires on its own, to the microsecond.
	if p, _ := look(t0.Add(time.Hour - time.Microsecond)); p != AllTests {
		t.Fatalf("before expiry: %v", p)
	}
	if p, n := look(t0.Add(time.Hour)); p != DeepTests || n != BareLF {
		t.Fatalf("pregreet expired: %v %v", p, n)
	}
	if p, n := look(t0.Add(30 * time.Hour)); p != 0 || n != 0 {
		t.Fatalf("all expired: %v %v", p, n)
	}
	// A new pass replaces the note.
	c.Pass(ctx, ip, BareLF, 0, t0.Add(40*time.Hour), t0.Add(31*time.Hour))
	if p, n := look(t0.Add(31 * time.Hour)); p != BareLF || n != 0 {
		t.Fatalf("renewed: %v %v", p, n)
	}
	if p, _, _ := c.Lookup(ctx, netip.MustParseAddr("2001:db8::1"), t0); p != 0 {
		t.Fatalf("other address: %v", p)
	}
}

func TestMemoryCache(t *testing.T) {
	testCache(t, NewMemoryCache(0))
	c := NewMemoryCache(100)
	for i := range 1000 {
		c.Pass(context.Background(), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Pregreet, 0, t0.Add(time.Hour), t0)
	}
	if c.Len() > 100 {
		t.Errorf("%d records, bound 100", c.Len())
	}
}

func TestRedisCache(t *testing.T) {
	s := redistest.Start(t)
	rc := s.Client(t)
	p := redistest.Prefix()
	c := NewRedisCache(rc, p)
	// Times near now: the key's TTL is real time.
	now := time.Now()
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")
	c.Pass(ctx, ip, DeepTests, 0, now.Add(time.Hour), now)
	c.Pass(ctx, ip, Pregreet, 0, now.Add(time.Minute), now)
	ttl, err := rc.PTTL(ctx, p+"{192.0.2.1}").Result()
	if err != nil || ttl > time.Hour || ttl < time.Hour-5*time.Second {
		t.Errorf("TTL %v %v", ttl, err)
	}
	testCache(t, NewRedisCache(rc, redistest.Prefix()))

	// Two screens share the cache: a pass through one skips the tests at
	// the other.
	o := func() *Options { return &Options{Cache: NewRedisCache(s.Client(t), p+"shared:")} }
	a, b := newServer(t, o()), newServer(t, o())
	a.dial(t).mta()
	c2 := b.dial(t)
	c2.expect("220 real.test")
	b.handed(t)

	// Down: the tests run as for a new client.
	s.Stop()
	c3 := b.dial(t)
	if r := c3.reply(); !strings.HasPrefix(r, "220-mx.test") {
		t.Errorf("cache down: %q", r)
	}
}
