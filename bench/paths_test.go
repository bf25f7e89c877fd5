package bench

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
	"github.com/mtaguard/mtaguard/verify"
)

// dnsResolver is what the checks need, all together: *resolver.Resolver
// and *resolvertest.Resolver both satisfy it.
type dnsResolver interface {
	fcrdns.Resolver
	dnsbl.Resolver
	helo.Resolver
	spf.Resolver
	dkim.Resolver
	dmarc.Resolver
}

// now is the time of every session: ten minutes after each triplet's
// first sighting (see world.seed), so that the greylist lets it through.
var now = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// world is a fixture served with latency: in memory (zone, the baseline's
// resolver, with no cache) and over UDP on loopback (srv, for the caching
// resolver of the mtaguard path).
type world struct {
	*fixtureData
	zone *resolvertest.Resolver
	srv  *resolvertest.Server
	grey *greylist.Memory
}

// newWorld serves the fixture of nClients clients and nDomains domains with
// per-query latency l, and a greylist store in which every client's triplet
// has waited out the delay.
func newWorld(tb testing.TB, nClients, nDomains int, l time.Duration) *world {
	tb.Helper()
	w := &world{fixtureData: getFixture(tb, nClients, nDomains)}
	var err error
	if w.zone, err = resolvertest.New(w.fixtureData.zone); err != nil {
		tb.Fatal(err)
	}
	w.zone.SetLatency(l)
	if w.srv, err = resolvertest.NewServer(w.zone); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.srv.Close)
	w.grey = greylist.NewMemory()
	for i := range w.clients {
		greylist.Check(context.Background(), w.grey, w.triplet(i), now.Add(-10*time.Minute), nil)
	}
	return w
}

func (w *world) triplet(i int) greylist.Triplet {
	c := w.clients[i]
	return greylist.Triplet{IP: c.ip, From: w.domains[c.dom].mailFrom(), Rcpt: rcpt}
}

// resolver returns a new caching resolver, cold, asking w's server.
func (w *world) resolver(tb testing.TB) *resolver.Resolver {
	r, err := resolver.New(resolver.Config{Servers: []string{w.srv.Addr}, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// session returns the facts of client i's session; sigs is the number of
// DKIM signatures of its message (1 or 2).
func (w *world) session(i, sigs int) *verdict.Session {
	c := w.clients[i]
	d := w.domains[c.dom]
	msg := d.msg1
	if sigs == 2 {
		msg = d.msg2
	}
	return &verdict.Session{IP: c.ip, HELO: c.name, MailFrom: d.mailFrom(), Rcpt: rcpt, Message: msg}
}

var (
	dnsLists = []dnsbl.List{
		{Zone: lists[0], Score: 6},
		{Zone: lists[1], Score: 4},
		{Zone: lists[2], Score: 2},
	}
	heloOptions = helo.Options{LocalNames: []string{ourHost, receiver}}
	relayPolicy = relay.Policy{LocalDomains: []string{receiver}}
)

// greyOptions fixes the greylist's clock at now.
func greyOptions() *greylist.Options {
	return &greylist.Options{Now: func() time.Time { return now }}
}

// newPolicy is the mtaguard path: one Policy with every check, on r.
func newPolicy(r dnsResolver, grey greylist.Store) *verdict.Policy {
	return &verdict.Policy{
		Checks: []verdict.Check{
			fcrdns.New(r, nil),
			dnsbl.New(r, dnsLists, nil),
			helo.New(r, &heloOptions),
			spf.New(r, nil),
			verify.NewSenderDomain(r, nil),
			relay.New(&relayPolicy),
			greylist.New(grey, greyOptions()),
			dkim.New(r, nil),
			dmarc.New(r, nil),
		},
		Quarantine: 6,
		Reject:     15,
		Timeout:    10 * time.Second,
	}
}

// stageTimes receives the duration of each stage of a staged session.
type stageTimes = [verdict.Data + 1]time.Duration

// runStaged evaluates s stage by stage, as an SMTP server does during the
// dialogue, and returns the decision of the Data stage and the worst of
// all stages' actions. Each fact of s is revealed at the stage it becomes
// known (the HELO name at Helo, the sender at Mail, the message at Data),
// so that checks prefetching for later stages see what they would see in a
// real dialogue. times, if not nil, has each stage's duration added.
func runStaged(ctx context.Context, p *verdict.Policy, s *verdict.Session, times *stageTimes) (verdict.Decision, verdict.Action) {
	facts := *s
	s.HELO, s.MailFrom, s.Rcpt, s.Message = "", "", "", nil
	worst := verdict.Accept
	var d verdict.Decision
	for st := verdict.Connect; st <= verdict.Data; st++ {
		switch st {
		case verdict.Helo:
			s.HELO = facts.HELO
		case verdict.Mail:
			s.MailFrom = facts.MailFrom
		case verdict.Data:
			s.Message = facts.Message
		}
		start := time.Now()
		if st == verdict.Rcpt {
			d = p.Evaluate(ctx, s.ForRcpt(facts.Rcpt), st)
		} else {
			d = p.Evaluate(ctx, s, st)
		}
		if times != nil {
			times[st] += time.Since(start)
		}
		worst = max(worst, d.Action)
	}
	return d, worst
}

// runBaseline is the same checks' pure functions called one after another,
// as a user writes them by hand on the base libraries, and a Policy without
// checks to decide from their results.
func runBaseline(ctx context.Context, r dnsResolver, grey greylist.Store, s *verdict.Session) verdict.Decision {
	fc := fcrdns.Check(ctx, r, s.IP)
	rdns := ""
	if fc.Status == verdict.Pass {
		rdns = fc.Domain
	}
	bl := dnsbl.Check(ctx, r, s.IP, dnsLists)
	he := helo.New(r, &heloOptions).Evaluate(ctx, s.IP, s.HELO, rdns)
	sp := spf.Check(ctx, r, s.IP, s.HELO, s.MailFrom)
	sd := verify.CheckSenderDomain(ctx, r, s.MailFrom, nil)
	re := relay.Check(&relayPolicy, relay.Envelope{IP: s.IP, MailFrom: s.MailFrom, Rcpt: s.Rcpt})
	gr := greylist.Check(ctx, grey, greylist.Triplet{IP: s.IP, From: s.MailFrom, Rcpt: s.Rcpt}, now, nil)
	dk := dkim.Check(ctx, r, bytes.NewReader(s.Message))
	from, _ := dmarc.From(bytes.NewReader(s.Message))
	dm := dmarc.Check(ctx, r, from, sp, dk)
	s.Results = append(s.Results, fc, bl, he, sp, sd, re, gr, dk, dm)
	p := verdict.Policy{Quarantine: 6, Reject: 15}
	return p.Evaluate(ctx, s, verdict.Data)
}

// forged is a session the fixture must refuse: a client outside the
// sender's SPF record, without rDNS, with a copy of the sender's message
// whose body was changed after signing.
func (w *world) forged() *verdict.Session {
	s := w.session(0, 1)
	s.IP = netip.MustParseAddr("203.0.113.66")
	s.HELO = "[203.0.113.66]"
	s.Message = bytes.Replace(s.Message, []byte("Unsubscribe: https://"), []byte("Log in here: http://"), 1)
	return s
}
