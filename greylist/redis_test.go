package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/internal/redistest"
	"github.com/mtaguard/mtaguard/verdict"
)

// TestMain silences go-redis's own log of failed dials, which the
// restart test causes on purpose.
func TestMain(m *testing.M) {
	redistest.Quiet()
	os.Exit(m.Run())
}

func TestRedisRules(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	testRules(t, func(*testing.T) Store { return NewRedis(c, redistest.Prefix()) })
}

// TestRedisEngines: two engines on two connections see one history.
func TestRedisEngines(t *testing.T) {
	s := redistest.Start(t)
	prefix := redistest.Prefix()
	a, b := NewRedis(s.Client(t), prefix), NewRedis(s.Client(t), prefix)
	testConcurrent(t, []Store{a, b})

	// One engine sees the first attempt, the other the retry.
	o := &Options{AutoAllow: -1}
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.9"), From: snd, Rcpt: rcp}
	if r := Check(context.Background(), a, tr, t0, o); r.Action != verdict.TempFail {
		t.Errorf("engine a, first: %+v", r)
	}
	if r := Check(context.Background(), b, tr, t0.Add(time.Minute), o); r.Action != verdict.TempFail {
		t.Errorf("engine b, early: %+v", r)
	}
	if r := Check(context.Background(), b, tr, t0.Add(6*time.Minute), o); r.Reason != "passed greylisting after 360s" {
		t.Errorf("engine b, retry: %+v", r)
	}
	if r := Check(context.Background(), a, tr, t0.Add(7*time.Minute), o); r.Reason != "known triplet" {
		t.Errorf("engine a, known: %+v", r)
	}
}

// TestRedisRestart: while the server is down checks fail open (or closed,
// by option); once it is back they work again, EVALSHA falling back to EVAL
// for the script cache the restart emptied.
func TestRedisRestart(t *testing.T) {
	s := redistest.Start(t)
	st := NewRedis(s.Client(t), redistest.Prefix())
	ctx := context.Background()
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.9"), From: snd, Rcpt: rcp}
	closed := &Options{Defer: true}

	if r := Check(ctx, st, tr, t0, nil); r.Action != verdict.TempFail || r.Err != nil {
		t.Fatalf("before: %+v", r)
	}
	s.Stop()
	if r := Check(ctx, st, tr, t0.Add(10*time.Minute), nil); r.Status != verdict.TempError || r.Action != verdict.Accept || r.Err == nil {
		t.Errorf("down, fail open: %+v", r)
	}
	if r := Check(ctx, st, tr, t0.Add(10*time.Minute), closed); r.Status != verdict.TempError || r.Action != verdict.TempFail || r.Code != 451 || r.Enhanced != "4.3.0" {
		t.Errorf("down, fail closed: %+v", r)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// The server kept nothing (no persistence): the triplet is new again.
	rec := &recorder{Store: st}
	if r := Check(ctx, rec, tr, t0.Add(11*time.Minute), nil); r.Err != nil || rec.last.State != Deferred {
		t.Fatalf("after restart: %+v %v", r, rec.last.State)
	}
	if r := Check(ctx, rec, tr, t0.Add(20*time.Minute), closed); r.Err != nil || rec.last.State != Passed {
		t.Errorf("after restart, retry: %+v %v", r, rec.last.State)
	}
}

// TestRedisKeys: keys share a Cluster hash tag, hold no address, and their
// TTLs are the record lives the Options give, not wall-clock arithmetic.
func TestRedisKeys(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	st := NewRedis(c, redistest.Prefix())
	ctx := context.Background()
	o := &Options{Delay: time.Minute, RetryWindow: 3 * time.Hour, Lifetime: 7 * day, AutoAllow: 2}
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.9"), From: "Alice@Example.com", Rcpt: rcp}
	k := makeKey(tr.IP, tr.From, tr.Rcpt, 24, 64)
	tk, nk := st.keys(k)
	if tag := tk[:strings.IndexByte(tk, '}')+1]; !strings.HasPrefix(nk, tag) || !strings.Contains(tag, "{") {
		t.Errorf("keys %q, %q do not share a hash tag", tk, nk)
	}
	if strings.Contains(tk+nk, "203.0.113") || strings.Contains(strings.ToLower(tk), "alice") {
		t.Errorf("keys %q, %q hold the addresses", tk, nk)
	}

	ttl := func(key string) time.Duration {
		d, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	near := func(got, want time.Duration) bool { return got <= want && got > want-5*time.Second }

	// Times far from the wall clock: the TTLs are still the Options'.
	Check(ctx, st, tr, t0, o)
	if got := ttl(tk); !near(got, 3*time.Hour) {
		t.Errorf("pending TTL %v", got)
	}
	if got := ttl(nk); got != -2*time.Nanosecond && got >= 0 {
		t.Errorf("network record before any pass: TTL %v", got)
	}
	Check(ctx, st, tr, t0.Add(2*time.Minute), o)
	if got := ttl(tk); !near(got, 7*day) {
		t.Errorf("passed TTL %v", got)
	}
	if got := ttl(nk); !near(got, 7*day) {
		t.Errorf("network TTL %v", got)
	}
}

// TestRedisRoundTrips: one round trip a check, once the script is cached.
func TestRedisRoundTrips(t *testing.T) {
	s := redistest.Start(t)
	c := s.Client(t)
	h := &redistest.RoundTrips{}
	c.AddHook(h)
	st := NewRedis(c, redistest.Prefix())
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.9")
	Check(ctx, st, Triplet{IP: ip, From: "warm@example.com", Rcpt: rcp}, t0, nil)
	h.Reset()
	const n = 50
	for i := range n {
		Check(ctx, st, Triplet{IP: ip, From: fmt.Sprintf("u%d@example.com", i%7), Rcpt: rcp}, t0.Add(time.Duration(i)*time.Minute), nil)
	}
	if got := h.N(); got != n {
		t.Errorf("%d round trips for %d checks", got, n)
	}
}

func BenchmarkRedisCheck(b *testing.B) {
	s := redistest.Start(b)
	c := s.Client(b)
	h := &redistest.RoundTrips{}
	c.AddHook(h)
	st := NewRedis(c, redistest.Prefix())
	ctx := context.Background()
	trs := triplets(1024)
	Check(ctx, st, trs[0], t0, nil)
	h.Reset()
	i := 0
	for b.Loop() {
		Check(ctx, st, trs[i%len(trs)], t0.Add(time.Duration(i)*time.Second), nil)
		i++
	}
	b.ReportMetric(float64(h.N())/float64(i), "roundtrips/op")
}
