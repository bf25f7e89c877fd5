package verify

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/redistest"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestMain(m *testing.M) {
	redistest.Quiet()
	os.Exit(m.Run())
}

// TestRedisCache: two Callouts (two MX hosts) sharing a Redis cache make
// one probe between them; a lookup is one GET; entries expire in Redis;
// with Redis down, probes go on uncached.
func TestRedisCache(t *testing.T) {
	s := redistest.Start(t)
	g := (&goServer{users: map[string]bool{"alice@example.test": true}}).start(t, "127.0.0.2", false)
	prefix := redistest.Prefix()
	a := &Callout{Route: route(g.addr), Cache: NewRedisCache(s.Client(t), prefix)}
	b := &Callout{Route: route(g.addr), Cache: NewRedisCache(s.Client(t), prefix)}
	ctx := context.Background()

	if res := a.Verify(ctx, "alice@example.test"); res.Status != verdict.Pass {
		t.Fatalf("a: %+v", res)
	}
	if res := a.Verify(ctx, "bob@example.test"); res.Status != verdict.Fail {
		t.Fatalf("a: %+v", res)
	}
	admin := s.Client(t)
	admin.ConfigResetStat(ctx)
	if res := b.Verify(ctx, "alice@example.test"); res.Status != verdict.Pass || !strings.HasPrefix(res.Reason, "cached: callout to") {
		t.Errorf("b: %+v", res)
	}
	if res := b.Verify(ctx, "bob@example.test"); res.Status != verdict.Fail || !strings.Contains(res.Reason, "550") {
		t.Errorf("b: %+v", res)
	}
	if n := g.sessions.Load(); n != 2 {
		t.Errorf("%d probes, want 2", n)
	}
	// Two lookups, two commands, both GET.
	info := admin.Info(ctx, "commandstats").Val()
	if !strings.Contains(info, "cmdstat_get:calls=2,") {
		t.Errorf("commands of two cached lookups:\n%s", info)
	}
	for _, line := range strings.Split(info, "\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		switch {
		case !strings.HasPrefix(line, "cmdstat_"), name == "get", name == "hello", name == "config|resetstat", strings.HasPrefix(name, "client|"):
		default:
			t.Errorf("a cached lookup sent %s", line)
		}
	}

	// Entries carry their lifetime as a Redis expiry.
	ttl := admin.PTTL(ctx, prefix+"bob@example.test").Val()
	if ttl < DefaultNegativeTTL-time.Minute || ttl > DefaultNegativeTTL {
		t.Errorf("negative entry expires in %v", ttl)
	}
	c := NewRedisCache(admin, prefix)
	c.Put(ctx, "carol@example.test", Entry{Status: verdict.Pass, Reason: "x", Expires: time.Now().Add(100 * time.Millisecond)})
	if _, ok, _ := c.Get(ctx, "carol@example.test"); !ok {
		t.Error("fresh entry missing")
	}
	time.Sleep(200 * time.Millisecond)
	if _, ok, _ := c.Get(ctx, "carol@example.test"); ok {
		t.Error("expired entry kept")
	}
	// Another program's value under our key is no entry.
	admin.Set(ctx, prefix+"dave@example.test", "not an entry", time.Minute)
	if _, ok, err := c.Get(ctx, "dave@example.test"); ok || err != nil {
		t.Errorf("foreign value: %v %v", ok, err)
	}

	// Redis down: the cache fails, the probe goes on.
	s.Stop()
	if res := b.Verify(ctx, "alice@example.test"); res.Status != verdict.Pass || strings.HasPrefix(res.Reason, "cached") {
		t.Errorf("redis down: %+v", res)
	}
}

func TestMemoryCacheBound(t *testing.T) {
	c := NewMemoryCacheSize(100)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := 0; i < 1000; i++ {
		c.Put(ctx, strings.Repeat("x", i%7)+string(rune('a'+i%26))+"@"+string(rune('a'+i/26%26))+".test", Entry{Status: verdict.Pass, Expires: exp})
		if c.Len() > 100 {
			t.Fatalf("%d entries after %d puts", c.Len(), i+1)
		}
	}
	// The newest survive, the oldest were displaced.
	for i := 0; i < 5000; i++ {
		c.Put(ctx, "same@example.test", Entry{Status: verdict.Fail, Expires: exp})
	}
	if e, ok, _ := c.Get(ctx, "same@example.test"); !ok || e.Status != verdict.Fail {
		t.Errorf("latest entry: %+v %v", e, ok)
	}
	if len(c.order) > 1000 {
		t.Errorf("queue of %d for %d entries", len(c.order), c.Len())
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(Entry{Status: verdict.Fail, Reason: "callout to x: 550 5.1.1 no", Expires: time.UnixMilli(1700000000000)}))
	f.Add("1 2 ")
	f.Add("9 -1 \r\n")
	f.Fuzz(func(t *testing.T, v string) {
		e, ok := decodeEntry(v)
		if !ok {
			return
		}
		if e.Status > verdict.PermError || verdict.Printable(e.Reason) != e.Reason {
			t.Fatalf("%+v", e)
		}
	})
}
