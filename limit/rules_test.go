package limit

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const us = time.Microsecond

func clientKey(rule, ip string, bits int) Key {
	p, _ := netip.MustParseAddr(ip).Prefix(bits)
	return Key{Rule: rule, Counter: Messages, Prefix: p}
}

// testRules is the rules suite every Store passes.
func testRules(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	do := func(t *testing.T, st Store, now time.Time, ops ...Op) []Op {
		t.Helper()
		if err := st.Do(ctx, now, ops); err != nil {
			t.Fatal(err)
		}
		return ops
	}
	take := func(k Key, r Rate, n int) Op { return Op{Key: k, Kind: Take, Rate: r, N: n} }
	peek := func(k Key, r Rate, n int) Op { return Op{Key: k, Kind: Peek, Rate: r, N: n} }

	t.Run("edge", func(t *testing.T) {
		st := newStore(t)
		k := clientKey("edge", "192.0.2.1", 32)
		r := Rate{Events: 10, Per: 10 * time.Second, Burst: 3} // one a second, three at once
		for i := range 3 {
			if op := do(t, st, t0, take(k, r, 1))[0]; !op.OK || op.Left != 2-i {
				t.Fatalf("take %d: %+v", i, op)
			}
		}
		if op := do(t, st, t0, take(k, r, 1))[0]; op.OK || op.Retry != time.Second || op.Left != 0 {
			t.Fatalf("fourth: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Second-us), take(k, r, 1))[0]; op.OK || op.Retry != us {
			t.Fatalf("1µs early: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Second), take(k, r, 1))[0]; !op.OK || op.Left != 0 {
			t.Fatalf("on the edge: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Second), take(k, r, 1))[0]; op.OK {
			t.Fatalf("after the edge: %+v", op)
		}
		// Idle for long: the full burst again, and no more.
		later := t0.Add(time.Hour)
		if op := do(t, st, later, take(k, r, 3))[0]; !op.OK || op.Left != 0 {
			t.Fatalf("burst of 3 after idle: %+v", op)
		}
		if op := do(t, st, later, take(k, r, 1))[0]; op.OK {
			t.Fatalf("after burst: %+v", op)
		}
		// More than the burst never fits.
		if op := do(t, st, later.Add(time.Hour), take(k, r, 4))[0]; op.OK {
			t.Fatalf("4 > burst: %+v", op)
		}
	})

	t.Run("peek counts nothing", func(t *testing.T) {
		st := newStore(t)
		k := clientKey("peek", "192.0.2.1", 32)
		r := Rate{Events: 2, Per: time.Minute}
		for range 5 {
			if op := do(t, st, t0, peek(k, r, 1))[0]; !op.OK || op.Left != 1 {
				t.Fatalf("peek: %+v", op)
			}
		}
		do(t, st, t0, take(k, r, 2))
		if op := do(t, st, t0, peek(k, r, 1))[0]; op.OK || op.Retry != 30*time.Second {
			t.Fatalf("peek when full: %+v", op)
		}
	})

	t.Run("zero rate", func(t *testing.T) {
		st := newStore(t)
		if op := do(t, st, t0, take(clientKey("zero", "192.0.2.1", 32), Rate{}, 1))[0]; op.OK {
			t.Fatalf("zero rate allowed: %+v", op)
		}
	})

	t.Run("independent ops", func(t *testing.T) {
		st := newStore(t)
		r := Rate{Events: 1, Per: time.Minute}
		a, b := clientKey("ind", "192.0.2.1", 32), clientKey("ind", "192.0.2.0", 24)
		do(t, st, t0, take(b, r, 1))
		ops := do(t, st, t0, take(a, r, 1), take(b, r, 1), Op{Key: Key{Rule: "ind", Counter: Messages, Name: "x@example.org"}, Kind: Take, Rate: r, N: 1})
		if !ops[0].OK || ops[1].OK || !ops[2].OK {
			t.Fatalf("ops: %+v", ops)
		}
		// a was counted although b was over.
		if op := do(t, st, t0, take(a, r, 1))[0]; op.OK {
			t.Fatalf("a again: %+v", op)
		}
	})

	t.Run("leases", func(t *testing.T) {
		st := newStore(t)
		k := Key{Rule: "conc", Counter: Connections, Prefix: netip.MustParsePrefix("192.0.2.1/32")}
		acq := func(name string) Op { return Op{Key: k, Kind: Acquire, Max: 2, Lease: name, TTL: time.Minute} }
		rel := func(name string) Op { return Op{Key: k, Kind: Release, Lease: name} }
		if op := do(t, st, t0, acq("a"))[0]; !op.OK || op.Left != 1 {
			t.Fatalf("a: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Second), acq("b"))[0]; !op.OK || op.Left != 2 {
			t.Fatalf("b: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Second), acq("c"))[0]; op.OK || op.Left != 2 {
			t.Fatalf("c over max: %+v", op)
		}
		// Renewing a held lease is not a new one.
		if op := do(t, st, t0.Add(30*time.Second), acq("a"))[0]; !op.OK || op.Left != 2 {
			t.Fatalf("a renewed: %+v", op)
		}
		if op := do(t, st, t0.Add(30*time.Second), rel("a"), acq("c")); !op[1].OK || op[0].Left != 1 || op[1].Left != 2 {
			t.Fatalf("release a, take c: %+v", op)
		}
		if op := do(t, st, t0.Add(30*time.Second), rel("nobody"))[0]; !op.OK || op.Left != 2 {
			t.Fatalf("release unknown: %+v", op)
		}
		// b expires a minute after it was taken, exactly; c lives on.
		if op := do(t, st, t0.Add(time.Minute+time.Second-us), acq("d"))[0]; op.OK {
			t.Fatalf("d before b expired: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Minute+time.Second), acq("d"))[0]; !op.OK || op.Left != 2 {
			t.Fatalf("d after b expired: %+v", op)
		}
		if op := do(t, st, t0.Add(time.Hour), acq("e"))[0]; !op.OK || op.Left != 1 {
			t.Fatalf("all expired: %+v", op)
		}
	})

	t.Run("checker", func(t *testing.T) {
		testChecker(t, newStore(t))
	})
}

// testChecker: the checks' demands and replies, on any Store.
func testChecker(t *testing.T, st Store) {
	ctx := context.Background()
	ip := func(s string) Facts { return Facts{IP: netip.MustParseAddr(s)} }
	c := New(st, &Options{Rules: []Rule{
		{Counter: Connects, Rate: Rate{Events: 2, Per: time.Minute}},
		{Counter: Connects, IPv4Prefix: 24, IPv6Prefix: 48, Rate: Rate{Events: 3, Per: time.Minute}},
	}})
	if c.Stage() != verdict.Connect || c.Name() != Name {
		t.Fatalf("stage %v name %q", c.Stage(), c.Name())
	}
	want := func(r verdict.Result, code int, enh string) {
		t.Helper()
		if code == 0 {
			if r.Action != verdict.Accept || r.Status != verdict.Pass {
				t.Fatalf("want within: %+v", r)
			}
			return
		}
		if r.Action != verdict.TempFail || r.Code != code || r.Enhanced != enh || r.Status != verdict.Fail {
			t.Fatalf("want %d %s: %+v", code, enh, r)
		}
	}
	want(c.Evaluate(ctx, ip("192.0.2.1"), t0), 0, "")
	want(c.Evaluate(ctx, ip("192.0.2.1"), t0), 0, "")
	r := c.Evaluate(ctx, ip("192.0.2.1"), t0)
	want(r, 421, "4.7.0")
	if r.Reason != "too many connections from 192.0.2.1, try again in 30s" {
		t.Errorf("reason %q", r.Reason)
	}
	// The refused third connection still counted on the /24 rule: the
	// rules are independent.
	r = c.Evaluate(ctx, ip("192.0.2.3"), t0)
	want(r, 421, "4.7.0")
	if r.Reason != "too many connections from 192.0.2.0/24, try again in 20s" {
		t.Errorf("reason %q", r.Reason)
	}
	want(c.Evaluate(ctx, ip("198.51.100.1"), t0), 0, "")
	// IPv6: /64 per host, /48 per network.
	for i, a := range []string{"2001:db8:1:1::1", "2001:db8:1:1::2", "2001:db8:1:2::1", "2001:db8:1:3::1"} {
		r := c.Evaluate(ctx, ip(a), t0)
		if i < 3 {
			want(r, 0, "")
		} else {
			want(r, 421, "4.7.0")
			if r.Reason != "too many connections from 2001:db8:1::/48, try again in 20s" {
				t.Errorf("reason %q", r.Reason)
			}
		}
	}
	if r := c.Evaluate(ctx, Facts{}, t0); r.Status != verdict.None || r.Action != verdict.Accept {
		t.Errorf("no address: %+v", r)
	}

	// Messages per sender, recipients per domain: 450 4.7.1.
	m := New(st, &Options{Rules: []Rule{{Name: "msg", Counter: Messages, Subject: Sender, Rate: Rate{Events: 1, Per: time.Hour}}}})
	if m.Stage() != verdict.Mail {
		t.Errorf("messages stage %v", m.Stage())
	}
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.9"), MailFrom: "<Bob@Example.org>"}
	want(m.Check(ctx, s), 0, "")
	s.MailFrom = "bob@example.org"
	r = m.Check(ctx, s)
	want(r, 450, "4.7.1")
	if r.Reason[:37] != "too many messages from sender bob@exa" {
		t.Errorf("reason %q", r.Reason)
	}
	s.MailFrom = ""
	if r := m.Check(ctx, s); r.Status != verdict.None {
		t.Errorf("null sender counted: %+v", r)
	}
	rc := New(st, &Options{Rules: []Rule{{Counter: Recipients, Subject: RecipientDomain, Rate: Rate{Events: 2, Per: time.Hour}}}})
	want(rc.Evaluate(ctx, Facts{Rcpt: "<a@Example.NET.>"}, t0), 0, "")
	want(rc.Evaluate(ctx, Facts{Rcpt: "b@example.net"}, t0), 0, "")
	r = rc.Evaluate(ctx, Facts{Rcpt: "c@example.net"}, t0)
	want(r, 450, "4.7.1")
	if r.Reason != "too many recipients to example.net, try again in 1800s" {
		t.Errorf("reason %q", r.Reason)
	}

	// Failed AUTH: 535 for each failure the server reports, 421 after the
	// one that fills the counter, 454 before the next attempt.
	a := New(st, &Options{Rules: []Rule{{Counter: AuthFailures, Rate: Rate{Events: 3, Per: time.Hour}}}})
	f := ip("203.0.113.5")
	for i := range 3 {
		if r := a.Evaluate(ctx, f, t0); r.Action != verdict.Accept {
			t.Fatalf("attempt %d refused: %+v", i, r)
		}
		r := a.Report(ctx, AuthFailures, f, t0)
		if i < 2 && r.Action != verdict.Accept {
			t.Fatalf("failure %d: %+v", i, r)
		}
		if i == 2 {
			want(r, 421, "4.7.0")
			if r.Reason != "too many failed authentications from 203.0.113.5, try again in 1200s" {
				t.Errorf("reason %q", r.Reason)
			}
		}
	}
	want(a.Evaluate(ctx, f, t0), 454, "4.7.0")
	want(a.Evaluate(ctx, f, t0.Add(20*time.Minute-us)), 454, "4.7.0")
	want(a.Evaluate(ctx, f, t0.Add(20*time.Minute)), 0, "")
	// Reports of other events are not counted by this rule.
	if r := a.Report(ctx, UnknownRecipients, ip("203.0.113.6"), t0); r.Status != verdict.None {
		t.Errorf("other event: %+v", r)
	}

	// Unknown recipients (a dictionary attack) and errors, reported.
	u := New(st, &Options{Rules: []Rule{
		{Counter: UnknownRecipients, IPv4Prefix: 24, Rate: Rate{Events: 2, Per: time.Hour}},
		{Counter: Errors, Rate: Rate{Events: 1, Per: time.Hour}},
	}})
	if u.Stage() != verdict.Rcpt {
		t.Errorf("stage %v", u.Stage())
	}
	g := ip("198.51.100.77")
	want(u.Report(ctx, UnknownRecipients, g, t0), 0, "")
	want(u.Report(ctx, UnknownRecipients, ip("198.51.100.78"), t0), 421, "4.7.0")
	r = u.Evaluate(ctx, g, t0)
	want(r, 450, "4.7.1")
	if r.Reason != "too many unknown recipients from 198.51.100.0/24, try again in 1800s" {
		t.Errorf("reason %q", r.Reason)
	}
	want(u.Report(ctx, Errors, ip("192.0.2.200"), t0), 421, "4.7.0")
	r = u.Evaluate(ctx, ip("192.0.2.200"), t0)
	if r.Code != 421 || r.Reason != "too many errors from 192.0.2.200, try again in 3600s" {
		t.Errorf("errors: %+v", r)
	}

	// Concurrency through Acquire.
	cc := New(st, &Options{Rules: []Rule{{Counter: Connections, Max: 1}}, Lease: time.Minute})
	l1, r := cc.Acquire(ctx, ip("192.0.2.50"), t0)
	want(r, 0, "")
	if l2, r := cc.Acquire(ctx, ip("192.0.2.50"), t0); l2 != nil {
		t.Fatalf("second lease: %+v", r)
	} else {
		want(r, 421, "4.7.0")
	}
	if err := l1.Release(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if _, r := cc.Acquire(ctx, ip("192.0.2.50"), t0); r.Action != verdict.Accept {
		t.Fatalf("after release: %+v", r)
	}
	// That lease was never released: it expires.
	if _, r := cc.Acquire(ctx, ip("192.0.2.50"), t0.Add(time.Minute)); r.Action != verdict.Accept {
		t.Fatalf("after expiry: %+v", r)
	}
}

func TestMemoryRules(t *testing.T) {
	testRules(t, func(*testing.T) Store { return NewMemory(0) })
}

func TestAllow(t *testing.T) {
	r := Rate{Events: 60, Per: time.Minute, Burst: 2}
	next, ok, _, left := Allow(time.Time{}, t0, r, 2)
	if !ok || !next.Equal(t0.Add(2*time.Second)) || left != 0 {
		t.Fatalf("burst: %v %v %v", next, ok, left)
	}
	n2, ok, retry, _ := Allow(next, t0.Add(500*time.Millisecond), r, 1)
	if ok || !n2.Equal(next) || retry != 500*time.Millisecond {
		t.Fatalf("early: %v %v %v", n2, ok, retry)
	}
	if _, ok, _, _ := Allow(next, t0.Add(time.Second), r, 1); !ok {
		t.Fatal("on the edge")
	}
}

// TestMemoryCollision: keys whose hashes collide keep their own counters.
func TestMemoryCollision(t *testing.T) {
	s := &shard{m: map[uint64]*entry{}, bound: 10}
	a, b := clientKey("a", "192.0.2.1", 32), clientKey("b", "192.0.2.1", 32)
	ea, h := s.find(&a, 7)
	if ea != nil || h != 7 {
		t.Fatal(ea, h)
	}
	s.add(a, h, 0).tat = 1
	eb, hb := s.find(&b, 7)
	if eb != nil || hb != 8 {
		t.Fatal(eb, hb)
	}
	s.add(b, hb, 0).tat = 2
	if e, _ := s.find(&a, 7); e.tat != 1 {
		t.Error("a lost")
	}
	if e, _ := s.find(&b, 7); e.tat != 2 {
		t.Error("b lost")
	}
}
