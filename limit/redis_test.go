package limit

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/redistest"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestMain(m *testing.M) {
	redistest.Quiet()
	if os.Getenv(loadWorkerEnv) != "" {
		os.Exit(loadWorker())
	}
	os.Exit(m.Run())
}

func TestRedisRules(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	testRules(t, func(*testing.T) Store { return NewRedis(c, redistest.Prefix()) })
}

// TestRedisEngines: two stores on two connections share the counters.
func TestRedisEngines(t *testing.T) {
	s := redistest.Start(t)
	p := redistest.Prefix()
	a, b := NewRedis(s.Client(t), p), NewRedis(s.Client(t), p)
	o := &Options{Rules: []Rule{{Counter: Messages, Subject: Sender, Rate: Rate{Events: 3, Per: time.Hour}}}}
	ca, cb := New(a, o), New(b, o)
	ctx := context.Background()
	f := Facts{Sender: "x@example.org"}
	for i, c := range []*Checker{ca, cb, ca} {
		if r := c.Evaluate(ctx, f, t0); r.Action != verdict.Accept {
			t.Fatalf("%d: %+v", i, r)
		}
	}
	if r := cb.Evaluate(ctx, f, t0); r.Code != 450 {
		t.Fatalf("fourth on b: %+v", r)
	}
}

// TestRedisOutage: a store that is down lets the client through, saying
// so, or refuses with 4xx by option; never 5xx. Once the server is back
// (without the script cache) decisions work again.
func TestRedisOutage(t *testing.T) {
	s := redistest.Start(t)
	st := NewRedis(s.Client(t), redistest.Prefix())
	rules := []Rule{{Counter: Connects, Rate: Rate{Events: 1, Per: time.Hour}}, {Counter: Connections, Max: 1}}
	open, closed := New(st, &Options{Rules: rules}), New(st, &Options{Rules: rules, Defer: true})
	ctx := context.Background()
	f := Facts{IP: netip.MustParseAddr("192.0.2.1")}
	if r := open.Evaluate(ctx, f, t0); r.Status != verdict.Pass {
		t.Fatalf("up: %+v", r)
	}
	s.Stop()
	r := open.Evaluate(ctx, f, t0)
	if r.Status != verdict.TempError || r.Action != verdict.Accept || r.Err == nil || !strings.Contains(r.Reason, "not limited") {
		t.Errorf("down, open: %+v", r)
	}
	r = closed.Evaluate(ctx, f, t0)
	if r.Status != verdict.TempError || r.Action != verdict.TempFail || r.Code != 421 || r.Enhanced != "4.3.0" {
		t.Errorf("down, closed: %+v", r)
	}
	l, r := open.Acquire(ctx, f, t0)
	if l != nil || r.Action != verdict.Accept || r.Err == nil {
		t.Errorf("acquire down, open: %v %+v", l, r)
	}
	if _, r := closed.Acquire(ctx, f, t0); r.Action != verdict.TempFail || r.Code/100 != 4 {
		t.Errorf("acquire down, closed: %+v", r)
	}
	m := New(st, &Options{Rules: []Rule{{Counter: Messages, Rate: Rate{Events: 1, Per: time.Hour}}}, Defer: true})
	if r := m.Evaluate(ctx, f, t0); r.Code != 451 || r.Enhanced != "4.3.0" {
		t.Errorf("messages down, closed: %+v", r)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if r := closed.Evaluate(ctx, f, t0); r.Status != verdict.Pass || r.Err != nil {
		t.Errorf("back: %+v", r)
	}
	if r := closed.Evaluate(ctx, f, t0); r.Code != 421 || r.Enhanced != "4.7.0" {
		t.Errorf("back, over: %+v", r)
	}
}

// TestRedisKeys: the keys of one subject share a Cluster hash tag; names
// are not stored; every key has a TTL, the time until it is idle.
func TestRedisKeys(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	p := redistest.Prefix()
	st := NewRedis(c, p)
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.7")
	ck := New(st, &Options{Rules: []Rule{
		{Name: "a", Counter: Connects, IPv4Prefix: 24, Rate: Rate{Events: 10, Per: time.Hour}},
		{Name: "b", Counter: Connects, IPv4Prefix: 24, Rate: Rate{Events: 10, Per: 2 * time.Hour}},
		{Name: "u", Counter: Messages, Subject: Sender, Rate: Rate{Events: 10, Per: time.Hour}},
		{Name: "n", Counter: Connections, Max: 3},
	}, Lease: time.Minute})
	now := time.Now()
	ck.Evaluate(ctx, Facts{IP: ip, Sender: "Secret@Example.org"}, now)
	ck.Acquire(ctx, Facts{IP: ip}, now)
	keys, err := c.Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		p + "{4:192.0.2.0/24}:a:connects":    12 * time.Minute, // Evaluate and Acquire both count
		p + "{4:192.0.2.0/24}:b:connects":    24 * time.Minute,
		p + "{4:192.0.2.7/32}:n:connections": time.Minute,
	}
	found := 0
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), "secret") {
			t.Errorf("key %q holds the sender", k)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("key %q: TTL %v %v", k, ttl, err)
		}
		if w, ok := want[k]; ok {
			found++
			if ttl > w || ttl < w-5*time.Second {
				t.Errorf("key %q: TTL %v, want %v", k, ttl, w)
			}
		}
	}
	if found != 3 || len(keys) != 4 {
		t.Errorf("keys %q", keys)
	}
}

// TestRedisRoundTrips: one round trip per decision, whatever the number
// of rules and slots.
func TestRedisRoundTrips(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	h := &redistest.RoundTrips{}
	c.AddHook(h)
	st := NewRedis(c, redistest.Prefix())
	ck := New(st, &Options{Rules: []Rule{
		{Counter: Messages, Rate: Rate{Events: 100, Per: time.Minute}},
		{Counter: Messages, IPv4Prefix: 24, Rate: Rate{Events: 100, Per: time.Minute}},
		{Counter: Messages, Subject: Sender, Rate: Rate{Events: 100, Per: time.Minute}},
	}})
	ctx := context.Background()
	f := Facts{IP: netip.MustParseAddr("192.0.2.1"), Sender: "a@example.org"}
	ck.Evaluate(ctx, f, t0) // loads the script
	h.Reset()
	const n = 20
	for i := range n {
		if r := ck.Evaluate(ctx, f, t0.Add(time.Duration(i)*time.Second)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if h.N() != n {
		t.Errorf("%d round trips for %d decisions", h.N(), n)
	}
}

func TestRedisBadReply(t *testing.T) {
	// A key of another type under the counter's name: an error, not a panic.
	s := redistest.Start(t)
	c := s.Client(t)
	p := redistest.Prefix()
	st := NewRedis(c, p)
	ctx := context.Background()
	k := Key{Rule: "r", Counter: Connections, Prefix: netip.MustParsePrefix("192.0.2.1/32")}
	name, _ := st.key(&k)
	c.Set(ctx, name, "x", 0)
	err := st.Do(ctx, t0, []Op{{Key: k, Kind: Acquire, Max: 1, Lease: "a", TTL: time.Minute}})
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("err %v", err)
	}
	var target interface{ Error() string }
	if !errors.As(err, &target) {
		t.Error("no error")
	}
}

// TestRedisAgreesWithMemory: random decisions on a few counters give the
// same outcomes, to the microsecond, in both stores.
func TestRedisAgreesWithMemory(t *testing.T) {
	s := redistest.Start(t)
	rs, ms := NewRedis(s.Client(t), redistest.Prefix()), NewMemory(0)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []Key{
		{Rule: "a", Counter: Messages, Prefix: netip.MustParsePrefix("192.0.2.0/24")},
		{Rule: "b", Counter: Recipients, Name: "example.org"},
		{Rule: "c", Counter: Connections, Prefix: netip.MustParsePrefix("2001:db8::/64")},
	}
	now := t0
	for i := range 2000 {
		now = now.Add(time.Duration(rng.IntN(400000)) * time.Microsecond)
		var ops []Op
		for _, k := range keys {
			if rng.IntN(2) == 0 {
				continue
			}
			var op Op
			if k.Counter == Connections {
				kind := []OpKind{Acquire, Release}[rng.IntN(2)]
				op = Op{Key: k, Kind: kind, Max: 3, Lease: strconv.Itoa(rng.IntN(5)), TTL: time.Duration(1+rng.IntN(3)) * time.Second}
			} else {
				op = Op{Key: k, Kind: []OpKind{Take, Peek}[rng.IntN(2)], N: 1 + rng.IntN(2),
					Rate: Rate{Events: 1 + rng.IntN(7), Per: time.Duration(1+rng.IntN(3000)) * time.Millisecond, Burst: rng.IntN(4)}}
			}
			ops = append(ops, op)
		}
		a, b := slices.Clone(ops), slices.Clone(ops)
		if err := rs.Do(ctx, now, a); err != nil {
			t.Fatal(err)
		}
		ms.Do(ctx, now, b)
		if !slices.Equal(a, b) {
			t.Fatalf("step %d at %v:\nredis  %+v\nmemory %+v", i, now.Sub(t0), a, b)
		}
	}
}
