package greylist

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

var t0 = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// recorder remembers the last outcome of the store it wraps.
type recorder struct {
	Store
	mu   sync.Mutex
	last Outcome
}

func (r *recorder) Observe(ctx context.Context, k Key, t time.Time, rules Rules) (Outcome, error) {
	o, err := r.Store.Observe(ctx, k, t, rules)
	r.mu.Lock()
	r.last = o
	r.mu.Unlock()
	return o, err
}

type step struct {
	at         time.Duration // after t0
	ip         string
	from, rcpt string
	want       State
}

// run checks each step through Check and the state the store reports.
func run(t *testing.T, st Store, o *Options, steps []step) {
	t.Helper()
	rec := &recorder{Store: st}
	for i, s := range steps {
		tr := Triplet{IP: netip.MustParseAddr(s.ip), From: s.from, Rcpt: s.rcpt}
		r := Check(context.Background(), rec, tr, t0.Add(s.at), o)
		if r.Err != nil {
			t.Fatalf("step %d: %v", i, r.Err)
		}
		if rec.last.State != s.want {
			t.Errorf("step %d (%v %s %s %s): state %v, want %v", i, s.at, s.ip, s.from, s.rcpt, rec.last.State, s.want)
		}
		deferred := s.want == Deferred || s.want == Early
		switch {
		case r.Check != Name:
			t.Errorf("step %d: Check %q", i, r.Check)
		case deferred && (r.Action != verdict.TempFail || r.Code != 451 || r.Enhanced != "4.7.1" || r.Reason != "greylisted, try again later" || r.Status != verdict.SoftFail):
			t.Errorf("step %d: deferral %+v", i, r)
		case !deferred && (r.Action != verdict.Accept || r.Status != verdict.Pass || r.Code != 0):
			t.Errorf("step %d: acceptance %+v", i, r)
		}
	}
}

const (
	snd = "test@example.com"
	rcp = "test@example.org"
)

// testRules runs the rules every Store must apply (anchor-cases.md
// section D) against stores from newStore.
func testRules(t *testing.T, newStore func(t *testing.T) Store) {
	noAuto := &Options{AutoAllow: -1}
	for _, c := range []struct {
		name  string
		o     *Options
		steps []step
	}{
		{"D1-D5 postgrey", noAuto, []step{
			{0, "192.168.0.1", snd, rcp, Deferred},
			{60 * time.Second, "192.168.0.1", snd, rcp, Early}, // first sighting not reset
			{310 * time.Second, "192.168.0.1", snd, rcp, Passed},
			{311 * time.Second, "192.168.0.2", snd, rcp, Known}, // same /24
			{312 * time.Second, "10.1.50.2", snd, rcp, Deferred},
			{313 * time.Second, "192.168.0.1", snd, "other@example.org", Deferred},
			{314 * time.Second, "192.168.0.1", "other@example.com", rcp, Deferred},
		}},
		{"delay boundary", noAuto, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{5*time.Minute - time.Millisecond, "192.0.2.1", snd, rcp, Early},
			{5 * time.Minute, "192.0.2.1", snd, rcp, Passed},
		}},
		{"custom delay", &Options{Delay: 20 * time.Minute, AutoAllow: -1}, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", snd, rcp, Early},
			{20 * time.Minute, "192.0.2.1", snd, rcp, Passed},
		}},
		{"D6 retry after the window", noAuto, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{3 * day, "192.0.2.1", snd, rcp, Deferred}, // first sighting reset
			{3*day + time.Minute, "192.0.2.1", snd, rcp, Early},
			{3*day + 6*time.Minute, "192.0.2.1", snd, rcp, Passed},
		}},
		{"retry within the window", noAuto, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{2*day - time.Second, "192.0.2.1", snd, rcp, Passed},
		}},
		{"D7 lifetime, refreshed on use", noAuto, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", snd, rcp, Passed},
			{30 * day, "192.0.2.1", snd, rcp, Known},
			{64 * day, "192.0.2.1", snd, rcp, Known}, // 34 days after the last use
			{100 * day, "192.0.2.1", snd, rcp, Deferred},
		}},
		{"custom lifetime and window", &Options{RetryWindow: time.Hour, Lifetime: day, AutoAllow: -1}, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{2 * time.Hour, "192.0.2.1", snd, rcp, Deferred},
			{2*time.Hour + 10*time.Minute, "192.0.2.1", snd, rcp, Passed},
			{2*time.Hour + 10*time.Minute + day + time.Second, "192.0.2.1", snd, rcp, Deferred},
		}},
		{"D8 sender normalisation", noAuto, []step{
			{0, "192.0.2.1", "list+bounce-123@lists.example", rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", "LIST+bounce-456@Lists.Example.", rcp, Passed},
			{11 * time.Minute, "192.0.2.1", "bounce-123@x.example", rcp, Deferred},
			{21 * time.Minute, "192.0.2.1", "<bounce-456@x.example>", rcp, Passed},
			{22 * time.Minute, "192.0.2.1", "prvs=0123abcdef=user@b.example", rcp, Deferred},
			{32 * time.Minute, "192.0.2.1", "prvs=0456fedcba=user@b.example", rcp, Passed},
			{33 * time.Minute, "192.0.2.1", "SRS0=HHH1=TT=orig.example=alice@fwd.example", rcp, Deferred},
			{43 * time.Minute, "192.0.2.1", "SRS0=hhh2=UU=orig.example=alice@fwd.example", rcp, Passed},
		}},
		{"null sender", noAuto, []step{
			{0, "192.0.2.1", "", rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", "<>", rcp, Passed},
			{11 * time.Minute, "192.0.2.1", "x@example.com", rcp, Deferred},
		}},
		{"recipient case", noAuto, []step{
			{0, "192.0.2.1", snd, "User@Example.ORG", Deferred},
			{10 * time.Minute, "192.0.2.1", snd, "<user@example.org.>", Passed},
			{11 * time.Minute, "192.0.2.1", snd, "user+x@example.org", Deferred},
		}},
		{"IPv6 /64", noAuto, []step{
			{0, "2001:db8:1:2::1", snd, rcp, Deferred},
			{10 * time.Minute, "2001:db8:1:2:ffff::9", snd, rcp, Passed},
			{11 * time.Minute, "2001:db8:1:3::1", snd, rcp, Deferred},
		}},
		{"IPv4-mapped client", noAuto, []step{
			{0, "::ffff:192.0.2.1", snd, rcp, Deferred},
			{10 * time.Minute, "192.0.2.77", snd, rcp, Passed},
		}},
		{"host prefixes", &Options{IPv4Prefix: 32, IPv6Prefix: 128, AutoAllow: -1}, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{10 * time.Minute, "192.0.2.2", snd, rcp, Deferred},
			{11 * time.Minute, "192.0.2.1", snd, rcp, Passed},
			{12 * time.Minute, "2001:db8::1", snd, rcp, Deferred},
			{22 * time.Minute, "2001:db8::2", snd, rcp, Deferred},
		}},
		{"rspamd /19", &Options{IPv4Prefix: 19, AutoAllow: -1}, []step{
			{0, "192.0.2.1", snd, rcp, Deferred},
			{10 * time.Minute, "192.0.31.200", snd, rcp, Passed}, // D25
		}},
		{"D9 auto-allow after 5 passes on separate hours", nil, []step{
			{0, "192.0.2.1", "a@s.example", rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", "a@s.example", rcp, Passed}, // 1
			{1 * time.Hour, "192.0.2.1", "b@s.example", rcp, Deferred},
			{1*time.Hour + 10*time.Minute, "192.0.2.1", "b@s.example", rcp, Passed}, // 2
			{2*time.Hour + 10*time.Minute, "192.0.2.1", "a@s.example", rcp, Known},  // 3
			{3*time.Hour + 10*time.Minute, "192.0.2.1", "a@s.example", rcp, Known},  // 4
			{3*time.Hour + 20*time.Minute, "192.0.2.1", "c@s.example", rcp, Deferred},
			{4*time.Hour + 10*time.Minute, "192.0.2.1", "b@s.example", rcp, Known}, // 5
			{4*time.Hour + 11*time.Minute, "192.0.2.9", "new@s.example", "x@example.org", AutoAllowed},
			{4*time.Hour + 12*time.Minute, "192.0.3.9", "new@s.example", "x@example.org", Deferred}, // another network
			{30 * day, "192.0.2.9", "new@s.example", "y@example.org", AutoAllowed},                  // 30 days after the last pass
			{60 * day, "192.0.2.9", "new@s.example", "y@example.org", AutoAllowed},                  // refreshed on use
			{100 * day, "192.0.2.9", "new@s.example", "y@example.org", Deferred},                    // expired
		}},
		{"auto-allow counts once an hour", nil, []step{
			{0, "192.0.2.1", "a@s.example", rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", "a@s.example", rcp, Passed},
			{11 * time.Minute, "192.0.2.1", "a@s.example", rcp, Known},
			{12 * time.Minute, "192.0.2.1", "a@s.example", rcp, Known},
			{13 * time.Minute, "192.0.2.1", "a@s.example", rcp, Known},
			{14 * time.Minute, "192.0.2.1", "a@s.example", rcp, Known},
			{15 * time.Minute, "192.0.2.1", "new@s.example", rcp, Deferred},
		}},
		{"auto-allow threshold option", &Options{AutoAllow: 1}, []step{
			{0, "192.0.2.1", "a@s.example", rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", "a@s.example", rcp, Passed},
			{11 * time.Minute, "192.0.2.1", "new@s.example", rcp, AutoAllowed},
		}},
		{"auto-allow off", &Options{AutoAllow: -1}, []step{
			{0, "192.0.2.1", "a@s.example", rcp, Deferred},
			{10 * time.Minute, "192.0.2.1", "a@s.example", rcp, Passed},
			{2 * time.Hour, "192.0.2.1", "a@s.example", rcp, Known},
			{4 * time.Hour, "192.0.2.1", "a@s.example", rcp, Known},
			{6 * time.Hour, "192.0.2.1", "a@s.example", rcp, Known},
			{8 * time.Hour, "192.0.2.1", "a@s.example", rcp, Known},
			{9 * time.Hour, "192.0.2.1", "new@s.example", rcp, Deferred},
		}},
	} {
		t.Run(c.name, func(t *testing.T) { run(t, newStore(t), c.o, c.steps) })
	}
}

func TestMemoryRules(t *testing.T) {
	testRules(t, func(*testing.T) Store { return NewMemory() })
}

// testConcurrent: many engines checking one triplet at one instant see one
// history: exactly one first sighting, and after the delay exactly one
// pass.
func testConcurrent(t *testing.T, stores []Store) {
	tr := Triplet{IP: netip.MustParseAddr("198.51.100.1"), From: "a@b.example", Rcpt: "c@d.example"}
	for _, round := range []struct {
		at        time.Time
		once      State
		otherwise State
	}{
		{t0, Deferred, Early},
		{t0.Add(10 * time.Minute), Passed, Known},
	} {
		const n = 40
		states := make(chan State, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				rec := &recorder{Store: stores[i%len(stores)]}
				if r := Check(context.Background(), rec, tr, round.at, &Options{AutoAllow: -1}); r.Err != nil {
					t.Error(r.Err)
				}
				states <- rec.last.State
			})
		}
		wg.Wait()
		close(states)
		count := map[State]int{}
		for s := range states {
			count[s]++
		}
		if count[round.once] != 1 || count[round.otherwise] != n-1 {
			t.Errorf("at %v: %v", round.at, count)
		}
	}
}

func TestMemoryConcurrent(t *testing.T) {
	testConcurrent(t, []Store{NewMemory()})
}

func TestExemptions(t *testing.T) {
	st := &recorder{Store: NewMemory()}
	o := &Options{TrustedNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("::ffff:198.51.100.0/120")}}
	for _, c := range []struct {
		name string
		ip   netip.Addr
	}{
		{"trusted", netip.MustParseAddr("192.0.2.1")},
		{"trusted mapped client", netip.MustParseAddr("::ffff:192.0.2.1")},
		{"trusted mapped prefix", netip.MustParseAddr("198.51.100.3")},
		{"no address", netip.Addr{}},
	} {
		st.last = Outcome{State: 99}
		r := Check(context.Background(), st, Triplet{IP: c.ip, From: snd, Rcpt: rcp}, t0, o)
		if r.Status != verdict.None || r.Action != verdict.Accept || st.last.State != 99 {
			t.Errorf("%s: %+v (store asked: %v)", c.name, r, st.last.State != 99)
		}
	}
	r := Check(context.Background(), st, Triplet{IP: netip.MustParseAddr("203.0.113.1"), From: snd, Rcpt: rcp}, t0, o)
	if r.Action != verdict.TempFail {
		t.Errorf("untrusted: %+v", r)
	}
}

type failing struct{ err error }

func (f failing) Observe(context.Context, Key, time.Time, Rules) (Outcome, error) {
	return Outcome{}, f.err
}

func TestStoreErrors(t *testing.T) {
	boom := errors.New("connection refused")
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.1"), From: snd, Rcpt: rcp}
	for _, c := range []struct {
		name   string
		st     Store
		o      *Options
		action verdict.Action
		code   int
		err    error
	}{
		{"fail open", failing{boom}, nil, verdict.Accept, 0, boom},
		{"fail closed", failing{boom}, &Options{Defer: true}, verdict.TempFail, 451, boom},
		{"nil store", nil, nil, verdict.Accept, 0, errNoStore},
		{"bad state", badState{}, nil, verdict.Accept, 0, nil},
	} {
		r := Check(context.Background(), c.st, tr, t0, c.o)
		if r.Status != verdict.TempError || r.Action != c.action || r.Code != c.code || r.Err == nil ||
			c.err != nil && !errors.Is(r.Err, c.err) || !strings.HasPrefix(r.Reason, "greylist store failed") {
			t.Errorf("%s: %+v", c.name, r)
		}
		if c.code == 451 && r.Enhanced != "4.3.0" {
			t.Errorf("%s: enhanced %q", c.name, r.Enhanced)
		}
	}

	// A cancelled context is a store failure too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := Check(ctx, NewMemory(), tr, t0, nil)
	if r.Status != verdict.TempError || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("cancelled: %+v", r)
	}
}

type badState struct{}

func (badState) Observe(context.Context, Key, time.Time, Rules) (Outcome, error) {
	return Outcome{State: 42}, nil
}

func TestScores(t *testing.T) {
	st := NewMemory()
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.1"), From: snd, Rcpt: rcp}
	sc := &Scores{Deferred: 0.5, Passed: -2, AutoAllowed: -3, StoreError: 0.1}
	o := &Options{Scores: sc, AutoAllow: 1}
	if r := Check(context.Background(), st, tr, t0, o); r.Score != 0.5 {
		t.Errorf("deferred score %v", r.Score)
	}
	if r := Check(context.Background(), st, tr, t0.Add(time.Hour), o); r.Score != -2 || r.Reason != "passed greylisting after 3600s" {
		t.Errorf("passed %+v", r)
	}
	if r := Check(context.Background(), st, tr, t0.Add(2*time.Hour), o); r.Score != -3 || r.Reason != "client network auto-allowed" {
		t.Errorf("auto-allowed %+v", r)
	}
	if r := Check(context.Background(), failing{errors.New("x")}, tr, t0, o); r.Score != 0.1 {
		t.Errorf("store error score %v", r.Score)
	}
	if r := Check(context.Background(), st, tr, t0.Add(3*time.Hour), nil); r.Score != DefaultScores.Passed || r.Reason != "known triplet" {
		t.Errorf("default %+v", r)
	}
}

func TestResolve(t *testing.T) {
	s := resolve(nil)
	want := Rules{Delay: 5 * time.Minute, RetryWindow: 2 * day, Lifetime: 35 * day, AutoAllow: 5, CountEvery: time.Hour}
	if s.rules != want || s.bits4 != 24 || s.bits6 != 64 || s.failClosed || s.scores != DefaultScores {
		t.Errorf("defaults %+v", s)
	}
	s = resolve(&Options{Delay: time.Hour, RetryWindow: time.Minute, Lifetime: -1, IPv4Prefix: 33, IPv6Prefix: -1, AutoAllow: -3})
	if s.rules.RetryWindow != time.Hour || s.rules.Lifetime != 35*day || s.bits4 != 24 || s.bits6 != 64 || s.rules.AutoAllow != 0 {
		t.Errorf("limits %+v", s)
	}
	if s := resolve(&Options{Delay: 200 * 365 * day}); s.rules.Delay != maxDuration {
		t.Errorf("huge delay %v", s.rules.Delay)
	}
}

func TestNew(t *testing.T) {
	now := t0
	st := NewMemory()
	c := New(st, &Options{
		Now:    func() time.Time { return now },
		Exempt: func(s *verdict.Session) bool { return strings.HasPrefix(s.Rcpt, "postmaster@") },
	})
	if c.Name() != "greylist" || c.Stage() != verdict.Rcpt {
		t.Fatalf("Name, Stage = %q, %v", c.Name(), c.Stage())
	}
	ctx := context.Background()
	s := &verdict.Session{IP: netip.MustParseAddr("203.0.113.1"), MailFrom: snd, Rcpt: rcp}
	if r := c.Check(ctx, s); r.Action != verdict.TempFail {
		t.Errorf("first: %+v", r)
	}
	now = now.Add(10 * time.Minute)
	if r := c.Check(ctx, s); r.Action != verdict.Accept || r.Status != verdict.Pass {
		t.Errorf("retry: %+v", r)
	}

	s2 := &verdict.Session{IP: netip.MustParseAddr("203.0.113.1"), MailFrom: snd, Rcpt: "postmaster@example.org"}
	if r := c.Check(ctx, s2); r.Status != verdict.None || r.Action != verdict.Accept {
		t.Errorf("exempt: %+v", r)
	}
	s3 := &verdict.Session{IP: netip.MustParseAddr("203.0.113.1"), MailFrom: snd, Rcpt: "new@example.org", AuthUser: "alice"}
	if r := c.Check(ctx, s3); r.Status != verdict.None {
		t.Errorf("authenticated: %+v", r)
	}
	c2 := New(st, &Options{GreylistAuthenticated: true, Now: func() time.Time { return now }})
	if r := c2.Check(ctx, s3); r.Action != verdict.TempFail {
		t.Errorf("authenticated, greylisted: %+v", r)
	}

	// Through a verdict.Policy the demand drives the reply.
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	d := p.Evaluate(ctx, &verdict.Session{IP: netip.MustParseAddr("198.51.100.1"), MailFrom: snd, Rcpt: rcp}, verdict.Rcpt)
	if d.Action != verdict.TempFail || d.Code != 451 || d.Enhanced != "4.7.1" || !strings.Contains(d.Message, "greylisted, try again later") {
		t.Errorf("decision %v", d)
	}

	// The default clock.
	if r := New(NewMemory(), nil).Check(ctx, s); r.Action != verdict.TempFail {
		t.Errorf("default clock: %+v", r)
	}
}

// TestCheckerEvaluate: Evaluate runs the check with the checker's store
// and options, without a session; New copies the options and scores.
func TestCheckerEvaluate(t *testing.T) {
	ctx := context.Background()
	sc := Scores{Passed: -3}
	o := &Options{Delay: time.Minute, Scores: &sc}
	c := New(NewMemory(), o)
	d := New(NewMemory(), nil)
	saved := DefaultScores
	defer func() { DefaultScores = saved }()
	o.Delay, sc.Passed, DefaultScores.Passed = time.Hour, 7, 9
	tr := Triplet{IP: netip.MustParseAddr("192.0.2.1"), From: snd, Rcpt: rcp}
	if r := c.Evaluate(ctx, tr, t0); r.Action != verdict.TempFail || r.Check != Name {
		t.Errorf("first: %+v", r)
	}
	if r := c.Evaluate(ctx, tr, t0.Add(2*time.Minute)); r.Status != verdict.Pass || r.Score != -3 {
		t.Errorf("retry after the delay New saw: %+v", r)
	}
	d.Evaluate(ctx, tr, t0)
	if r := d.Evaluate(ctx, tr, t0.Add(10*time.Minute)); r.Score != saved.Passed {
		t.Errorf("DefaultScores changed after New: %+v", r)
	}
}

// TestSessionTrusted checks that a session marked trusted (as
// verdict.Policy.TrustedNets marks it) is not greylisted, and that the
// Options' own TrustedNets still work without the mark.
func TestSessionTrusted(t *testing.T) {
	ctx := context.Background()
	ip := netip.MustParseAddr("10.1.2.3")
	c := New(NewMemory(), &Options{Now: func() time.Time { return t0 }})
	s := &verdict.Session{IP: ip, MailFrom: snd, Rcpt: rcp}
	if r := c.Check(ctx, s); r.Action != verdict.TempFail {
		t.Fatalf("untrusted first sighting: %+v", r)
	}
	p := &verdict.Policy{Checks: []verdict.Check{c}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	s = &verdict.Session{IP: ip, MailFrom: snd, Rcpt: "other@example.org"}
	if d := p.Evaluate(ctx, s, verdict.Rcpt); d.Action != verdict.Accept || !s.Trusted {
		t.Fatalf("trusted session: %+v (Trusted %v)", d, s.Trusted)
	}
	if r, _ := s.Result(Name); r.Status != verdict.None || r.Reason != "trusted client, not greylisted" {
		t.Errorf("trusted session: %+v", r)
	}
	own := New(NewMemory(), &Options{Now: func() time.Time { return t0 }, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if r := own.Check(ctx, &verdict.Session{IP: ip, MailFrom: snd, Rcpt: rcp}); r.Status != verdict.None || r.Action != verdict.Accept {
		t.Errorf("Options.TrustedNets: %+v", r)
	}
}
