package bench

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// want is each check's status for the fixture's good sender.
var want = map[string]verdict.Status{
	fcrdns.Name:     verdict.Pass,
	dnsbl.Name:      verdict.None,
	helo.Name:       verdict.Pass,
	spf.Name:        verdict.Pass,
	"sender-domain": verdict.Pass,
	relay.Name:      verdict.Pass,
	greylist.Name:   verdict.Pass,
	dkim.Name:       verdict.Pass,
	dmarc.Name:      verdict.Pass,
}

func checkResults(t *testing.T, path string, results []verdict.Result) {
	t.Helper()
	for _, r := range results {
		if w, ok := want[r.Check]; !ok || r.Status != w {
			t.Errorf("%s: %s = %v (%s), want %v", path, r.Check, r.Status, r.Reason, w)
		}
	}
}

// TestSessions runs one session of each path, for the good sender with
// each message and for a forgery, and checks the decisions: the fixture is
// realistic only if it accepts the one and refuses the other.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1, 1, 0)
	for _, sigs := range []int{1, 2} {
		s := w.session(0, sigs)
		d, worst := runStaged(ctx, newPolicy(w.resolver(t), w.grey), s, nil)
		if worst != verdict.Accept || d.Action != verdict.Accept {
			t.Errorf("staged, %d signatures: %v (worst stage %v), want accept", sigs, d, worst)
		}
		checkResults(t, "staged", s.Results)
		if len(s.Results) != len(want)-2 { // relay and greylist are on the Rcpt copy
			t.Errorf("staged: %d results, want %d", len(s.Results), len(want)-2)
		}

		s = w.session(0, sigs)
		d = newPolicy(w.resolver(t), w.grey).EvaluateAll(ctx, s)
		if d.Action != verdict.Accept {
			t.Errorf("all at once, %d signatures: %v, want accept", sigs, d)
		}
		checkResults(t, "all at once", d.Results)
		if len(d.Results) != len(want) {
			t.Errorf("all at once: %d results, want %d", len(d.Results), len(want))
		}

		s = w.session(0, sigs)
		d = runBaseline(ctx, w.zone, w.grey, s)
		if d.Action != verdict.Accept {
			t.Errorf("baseline, %d signatures: %v, want accept", sigs, d)
		}
		checkResults(t, "baseline", d.Results)
		if d.Score > -3 {
			t.Errorf("baseline: score %v, want the trust of every pass", d.Score)
		}
	}

	if d, worst := runStaged(ctx, newPolicy(w.resolver(t), w.grey), w.forged(), nil); worst != verdict.Reject {
		t.Errorf("staged, forged: %v (worst stage %v), want reject", d, worst)
	}
	if d := newPolicy(w.resolver(t), w.grey).EvaluateAll(ctx, w.forged()); d.Action != verdict.Reject {
		t.Errorf("all at once, forged: %v, want reject", d)
	}
	if d := runBaseline(ctx, w.zone, w.grey, w.forged()); d.Action != verdict.Reject {
		t.Errorf("baseline, forged: %v, want reject", d)
	}
}

// sessionQueries are the (name, type) pairs a session of client 0 needs,
// with the message with two signatures.
var sessionQueries = []struct {
	name  string
	qtype uint16
}{
	{"1.1.18.198.in-addr.arpa", dns.TypePTR},    // fcrdns
	{"mta0.mail.example.com", dns.TypeA},        // fcrdns, helo
	{"1.1.18.198.bl1.example.org", dns.TypeA},   // dnsbl
	{"1.1.18.198.bl2.example.org", dns.TypeA},   // dnsbl
	{"1.1.18.198.bl3.example.org", dns.TypeA},   // dnsbl
	{"mta0.mail.example.com", dns.TypeAAAA},     // helo
	{"mail.example.com", dns.TypeTXT},           // spf
	{"_spf1.example.com", dns.TypeTXT},          // spf
	{"_spf2.example.com", dns.TypeTXT},          // spf
	{"mail.example.com", dns.TypeMX},            // sender-domain
	{"_dmarc.mail.example.com", dns.TypeTXT},    // dmarc (prefetched)
	{"_dmarc.example.com", dns.TypeTXT},         // dmarc (prefetched)
	{"_dmarc.com", dns.TypeTXT},                 // dmarc (prefetched; RFC 9989 tree walk)
	{"rsa._domainkey.example.com", dns.TypeTXT}, // dkim
	{"ed._domainkey.example.com", dns.TypeTXT},  // dkim
}

// TestQueries checks the DNS traffic of the mtaguard path: each (name, type)
// a session needs is asked once, and a second session from the same client
// for the same domains asks at most 10% as many (here none: all cached).
func TestQueries(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1, 1, 0)
	for _, path := range []string{"staged", "all at once"} {
		w.zone.ResetQueries()
		p := newPolicy(w.resolver(t), w.grey)
		run := func() {
			if path == "staged" {
				runStaged(ctx, p, w.session(0, 2), nil)
			} else {
				p.EvaluateAll(ctx, w.session(0, 2))
			}
		}
		run()
		first := w.zone.TotalQueries()
		for _, q := range sessionQueries {
			if n := w.zone.Queries(q.name, q.qtype); n != 1 {
				t.Errorf("%s: %d queries for %s %s, want 1", path, n, q.name, dns.TypeToString[q.qtype])
			}
		}
		if first != len(sessionQueries) {
			t.Errorf("%s: first session made %d queries, want %d", path, first, len(sessionQueries))
		}
		run()
		if repeat := w.zone.TotalQueries() - first; repeat*10 > first {
			t.Errorf("%s: repeat session made %d queries, more than 10%% of %d", path, repeat, first)
		}
	}
}
