package acceptance

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
	"github.com/mtaguard/mtaguard/verify"
)

// deadline is the policy's stage deadline in the fault tests, and slack
// what a check may take beyond its context's deadline to return: the
// scheduling delay of a loaded CI machine under -race, not a second chance
// (the lookups that hang would take an hour).
const (
	deadline = 2 * time.Second
	slack    = time.Second
	// wireTimeout is the resolver's timeout for one query over the wire
	// where the fault is a server that never answers: short, to keep the
	// tests fast. Where an answer comes (every other fault), the timeout
	// is answerTimeout, long enough for a loaded CI machine, so that a
	// late answer is never mistaken for the fault's doing.
	wireTimeout   = 200 * time.Millisecond
	answerTimeout = 1500 * time.Millisecond
)

// wireResolver starts a DNS server for r and returns a resolver that asks
// it over UDP and TCP with the timeout given, without a cache so that
// every lookup sees the faults set at the time.
func wireResolver(t testing.TB, r *resolvertest.Resolver, timeout time.Duration) *resolver.Resolver {
	t.Helper()
	srv, err := resolvertest.NewServer(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	res, err := resolver.New(resolver.Config{
		Servers:   []string{srv.Addr},
		Timeout:   timeout,
		Attempts:  1,
		CacheSize: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkCase is one check, called as its pure function on fixed facts.
// Several cases of one check start from facts that the working DNS judges
// differently: a DNS fault must turn every one of them into TempError.
type checkCase struct {
	name string
	want verdict.Status // with working DNS
	run  func(ctx context.Context, r allResolver) verdict.Result
}

// The facts of the negative cases: an address with no PTR, listed on the
// world's list; a HELO name that does not exist; a sender domain that
// does not exist; a message signed with a key that does not exist; a
// message that fails DMARC for a p=reject domain.
var (
	noPTRIP = outsideIP
)

func checkCases(t testing.TB) []checkCase {
	good := signedMessage(t)
	noKey := sign(t, message("carol@example.com", "Hi.\r\n"), "example.com")
	spfPass := verdict.Result{Check: spf.Name, Status: verdict.Pass}
	spfPass.Auth = spfAuth("pass", mailFrom)
	var dkimPass verdict.Result
	{
		r := newWorld(t)
		dkimPass = dkim.Check(context.Background(), r, bytes.NewReader(good))
	}
	return []checkCase{
		{"fcrdns/pass", verdict.Pass, func(ctx context.Context, r allResolver) verdict.Result {
			return fcrdns.Check(ctx, r, clientIP)
		}},
		{"fcrdns/no-ptr", verdict.PermError, func(ctx context.Context, r allResolver) verdict.Result {
			return fcrdns.Check(ctx, r, noPTRIP)
		}},
		{"helo/pass", verdict.Pass, func(ctx context.Context, r allResolver) verdict.Result {
			return helo.Check(ctx, r, clientIP, heloName, nil)
		}},
		{"helo/no-dns", verdict.Fail, func(ctx context.Context, r allResolver) verdict.Result {
			return helo.Check(ctx, r, clientIP, "nx.example.org", nil)
		}},
		{"dnsbl/not-listed", verdict.None, func(ctx context.Context, r allResolver) verdict.Result {
			return dnsbl.Check(ctx, r, clientIP, ipLists)
		}},
		{"dnsbl/listed", verdict.Fail, func(ctx context.Context, r allResolver) verdict.Result {
			return dnsbl.Check(ctx, r, outsideIP, ipLists)
		}},
		{"dnsbl/domain", verdict.None, func(ctx context.Context, r allResolver) verdict.Result {
			return dnsbl.CheckDomain(ctx, r, heloName, domainLists)
		}},
		{"spf/pass", verdict.Pass, func(ctx context.Context, r allResolver) verdict.Result {
			return spf.Check(ctx, r, clientIP, heloName, mailFrom)
		}},
		{"spf/fail", verdict.Fail, func(ctx context.Context, r allResolver) verdict.Result {
			return spf.Check(ctx, r, outsideIP, "bot.example.com", mailFrom)
		}},
		{"sender-domain/pass", verdict.Pass, func(ctx context.Context, r allResolver) verdict.Result {
			return verify.CheckSenderDomain(ctx, r, mailFrom, nil)
		}},
		{"sender-domain/unknown", verdict.Fail, func(ctx context.Context, r allResolver) verdict.Result {
			return verify.CheckSenderDomain(ctx, r, "x@nx.example.org", nil)
		}},
		{"dkim/pass", verdict.Pass, func(ctx context.Context, r allResolver) verdict.Result {
			return dkim.Check(ctx, r, bytes.NewReader(good))
		}},
		{"dkim/no-key", verdict.PermError, func(ctx context.Context, r allResolver) verdict.Result {
			return dkim.Check(ctx, r, bytes.NewReader(noKey))
		}},
		{"dmarc/pass", verdict.Pass, func(ctx context.Context, r allResolver) verdict.Result {
			return dmarc.Check(ctx, r, "example.org", spfPass, dkimPass)
		}},
		{"dmarc/reject", verdict.Fail, func(ctx context.Context, r allResolver) verdict.Result {
			return dmarc.Check(ctx, r, "example.org")
		}},
	}
}

// discover runs c with working DNS and returns its result and the names it
// looked up.
func discover(t testing.TB, c checkCase) (verdict.Result, []string) {
	t.Helper()
	rec := newRecorder(newWorld(t))
	res := c.run(context.Background(), rec)
	if res.Status != c.want {
		t.Fatalf("%s with working DNS: %v, want %v: %s (%v)", c.name, res.Status, c.want, res.Reason, res.Err)
	}
	return res, rec.Names()
}

// timed runs c under a context with the policy's deadline and fails t if
// it takes longer than that.
func timed(t *testing.T, c checkCase, r allResolver) verdict.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	res := c.run(ctx, r)
	if el := time.Since(start); el > deadline+slack {
		t.Errorf("took %v, beyond the deadline %v", el, deadline)
	}
	return res
}

// assertNoEvidence fails t if res treats a DNS failure as evidence: a
// Reject demand, or a score above the one working DNS gave (or above a
// tiny one).
func assertNoEvidence(t *testing.T, res, clean verdict.Result) {
	t.Helper()
	if (res.Action == verdict.Reject || res.Code >= 500) && clean.Action != verdict.Reject {
		t.Errorf("DNS fault demands %v %d %s: %s", res.Action, res.Code, res.Enhanced, res.Reason)
	}
	if res.Score > math.Max(clean.Score, 0)+0.5 {
		t.Errorf("DNS fault scores %.1f, more than working DNS (%.1f): %s", res.Score, clean.Score, res.Reason)
	}
}

// Faults in memory and over the wire. rcode faults and timeouts must give
// TempError; the others must be invisible (the resolver waits for the
// real answer or retries over TCP).
var (
	memFaults  = []resolvertest.Fault{resolvertest.ServFail, resolvertest.Refused, resolvertest.Timeout}
	wireFaults = []resolvertest.Fault{
		resolvertest.ServFail, resolvertest.Refused, resolvertest.Timeout,
		resolvertest.Truncate, resolvertest.WrongID, resolvertest.WrongQuestion, resolvertest.Garbage,
	}
)

// faultTimeout is the resolver timeout for fault f over the wire.
func faultTimeout(f resolvertest.Fault) time.Duration {
	if f == resolvertest.Timeout {
		return wireTimeout
	}
	return answerTimeout
}

func failing(f resolvertest.Fault) bool {
	return f == resolvertest.ServFail || f == resolvertest.Refused || f == resolvertest.Timeout
}

// TestCheckFaults is the fault matrix of the pure functions: every check,
// from facts that working DNS passes and facts it holds against the
// client, with every name the check looks up broken by each fault.
func TestCheckFaults(t *testing.T) {
	t.Parallel()
	for _, c := range checkCases(t) {
		clean, names := discover(t, c)
		for _, wire := range []bool{false, true} {
			faults := memFaults
			if wire {
				faults = wireFaults
			}
			for _, f := range faults {
				name := fmt.Sprintf("%s/mem/%v", c.name, f)
				if wire {
					name = fmt.Sprintf("%s/wire/%v", c.name, f)
				}
				t.Run(name, func(t *testing.T) {
					r := newWorld(t)
					for _, n := range names {
						r.SetFault(n, f)
					}
					var res verdict.Result
					if wire {
						res = timed(t, c, wireResolver(t, r, faultTimeout(f)))
					} else {
						res = timed(t, c, r)
					}
					want := c.want
					if failing(f) {
						want = verdict.TempError
					}
					if res.Status != want {
						t.Errorf("%v on %v: %v, want %v: %s (%v)", f, names, res.Status, want, res.Reason, res.Err)
					}
					if failing(f) {
						assertNoEvidence(t, res, clean)
					}
				})
			}
		}
	}
}

// TestCheckFaultsHang breaks every name with a lookup that never ends
// until its context does: each check must return at the deadline with
// TempError, not hang and not guess.
func TestCheckFaultsHang(t *testing.T) {
	t.Parallel()
	const short = 300 * time.Millisecond
	for _, c := range checkCases(t) {
		clean, names := discover(t, c)
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newWorld(t)
			r.SetTimeoutAfter(time.Hour)
			for _, n := range names {
				r.SetFault(n, resolvertest.Timeout)
			}
			ctx, cancel := context.WithTimeout(context.Background(), short)
			defer cancel()
			start := time.Now()
			res := c.run(ctx, r)
			if el := time.Since(start); el > short+slack {
				t.Errorf("took %v with a %v deadline", el, short)
			}
			if res.Status != verdict.TempError {
				t.Errorf("%v, want temperror: %s (%v)", res.Status, res.Reason, res.Err)
			}
			assertNoEvidence(t, res, clean)
		})
	}
}

// TestCheckFaultsOneName breaks one name at a time: the result is either
// what working DNS gives (the name did not matter) or TempError, never a
// different answer and never more evidence.
func TestCheckFaultsOneName(t *testing.T) {
	t.Parallel()
	for _, c := range checkCases(t) {
		clean, names := discover(t, c)
		for _, n := range names {
			for _, f := range memFaults {
				t.Run(c.name+"/"+n+"/"+f.String(), func(t *testing.T) {
					r := newWorld(t)
					r.SetFault(n, f)
					res := timed(t, c, r)
					if res.Status != c.want && res.Status != verdict.TempError {
						t.Errorf("%v: %v, want %v or temperror: %s (%v)", f, res.Status, c.want, res.Reason, res.Err)
					}
					assertNoEvidence(t, res, clean)
				})
			}
			// One record type of the name: a server that fails AAAA
			// queries (a classic) or MX queries only.
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypePTR} {
				t.Run(c.name+"/"+n+"/servfail-"+dns.TypeToString[qt], func(t *testing.T) {
					r := newWorld(t)
					r.SetFaultType(n, qt, resolvertest.ServFail)
					res := timed(t, c, r)
					if res.Status != c.want && res.Status != verdict.TempError {
						t.Errorf("%v: %v, want %v or temperror: %s (%v)", dns.TypeToString[qt], res.Status, c.want, res.Reason, res.Err)
					}
					assertNoEvidence(t, res, clean)
				})
			}
		}
	}
}

// sessionCase is a whole session through the full policy.
type sessionCase struct {
	name    string
	session func(t testing.TB) *verdict.Session
	// clean is the code of the Data stage with working DNS.
	clean int
}

func sessionCases() []sessionCase {
	return []sessionCase{
		{"good", func(t testing.TB) *verdict.Session { return worldSession(signedMessage(t)) }, 250},
		// A bot on a listed address without rDNS, forging example.org
		// (p=reject): with working DNS it is refused.
		{"forger", func(t testing.TB) *verdict.Session {
			return &verdict.Session{IP: outsideIP, HELO: "bot.example.com", MailFrom: mailFrom, Rcpt: rcptTo,
				Message: message("alice@example.org", "Buy now.\r\n")}
		}, 550},
	}
}

// assertNo5xx fails t for any decision with a 5xx reply.
func assertNo5xx(t *testing.T, what string, ds ...verdict.Decision) {
	t.Helper()
	for _, d := range ds {
		if d.Code >= 500 || d.Action == verdict.Reject {
			t.Errorf("%s: %s%s", what, d, describe(d.Results))
		}
	}
}

// assertWithin fails t if an evaluation took longer than the deadline
// allows.
func assertWithin(t *testing.T, what string, el, limit time.Duration) {
	t.Helper()
	if el > limit+slack {
		t.Errorf("%s took %v, beyond %v", what, el, limit)
	}
}

// TestPolicyFaults runs whole sessions through a Policy of every check,
// stage by stage and with EvaluateAll, with every name of the session
// broken by each fault, in memory and over the wire: no session may get a
// 5xx for a DNS fault, and each stage ends within the deadline.
func TestPolicyFaults(t *testing.T) {
	t.Parallel()
	for _, sc := range sessionCases() {
		// The names of the session: those of a stage-by-stage run and
		// those of EvaluateAll (which runs dependent checks without the
		// earlier stages' results).
		rec := newRecorder(newWorld(t))
		c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
		store := greylist.NewMemory()
		seedGreylist(t, store, c, sc.session(t).IP)
		p := fullPolicy(rec, store, c, deadline)
		ds := stageDecisions(context.Background(), p, sc.session(t))
		if got := ds[len(ds)-1].Code; got != sc.clean {
			t.Fatalf("%s with working DNS: %d, want %d:%s", sc.name, got, sc.clean, describe(ds[len(ds)-1].Results))
		}
		p.EvaluateAll(context.Background(), sc.session(t))
		names := rec.Names()

		for _, wire := range []bool{false, true} {
			faults := memFaults
			if wire {
				faults = wireFaults
			}
			for _, f := range faults {
				name := fmt.Sprintf("%s/mem/%v", sc.name, f)
				if wire {
					name = fmt.Sprintf("%s/wire/%v", sc.name, f)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					r := newWorld(t)
					for _, n := range names {
						r.SetFault(n, f)
					}
					var res allResolver = r
					if wire {
						res = wireResolver(t, r, faultTimeout(f))
					}
					p := fullPolicy(res, store, c, deadline)
					s := sc.session(t)
					for _, st := range []verdict.Stage{verdict.Connect, verdict.Helo, verdict.Mail, verdict.Rcpt, verdict.Data} {
						ss := s
						if st == verdict.Rcpt {
							ss = s.ForRcpt(s.Rcpt)
						}
						start := time.Now()
						d := p.Evaluate(context.Background(), ss, st)
						assertWithin(t, st.String(), time.Since(start), deadline)
						if failing(f) {
							assertNo5xx(t, st.String(), d)
						} else if st == verdict.Data && d.Code != sc.clean {
							t.Errorf("%v is not invisible: %s%s", f, d, describe(d.Results))
						}
					}
					start := time.Now()
					d := p.EvaluateAll(context.Background(), sc.session(t))
					assertWithin(t, "EvaluateAll", time.Since(start), deadline)
					if failing(f) {
						assertNo5xx(t, "EvaluateAll", d)
					}
				})
			}
		}
	}
}

// TestPolicyFaultsOneName breaks one name of the good session at a time:
// whichever it is, no 5xx.
func TestPolicyFaultsOneName(t *testing.T) {
	t.Parallel()
	sc := sessionCases()[0]
	rec := newRecorder(newWorld(t))
	c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	store := greylist.NewMemory()
	seedGreylist(t, store, c, clientIP)
	p := fullPolicy(rec, store, c, deadline)
	stageDecisions(context.Background(), p, sc.session(t))
	p.EvaluateAll(context.Background(), sc.session(t))
	for _, n := range rec.Names() {
		for _, f := range memFaults {
			t.Run(n+"/"+f.String(), func(t *testing.T) {
				r := newWorld(t)
				r.SetFault(n, f)
				p := fullPolicy(r, store, c, deadline)
				assertNo5xx(t, "stages", stageDecisions(context.Background(), p, sc.session(t))...)
				assertNo5xx(t, "EvaluateAll", p.EvaluateAll(context.Background(), sc.session(t)))
			})
		}
	}
}
