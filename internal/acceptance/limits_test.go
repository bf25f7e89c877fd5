package acceptance

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
	"github.com/mtaguard/mtaguard/verify"
)

// worldZoneWithout is worldZone less the records of the names given, for
// a scenario to replace them.
func worldZoneWithout(names ...string) string {
	var b strings.Builder
	for _, line := range strings.Split(worldZone(), "\n") {
		owner, _, _ := strings.Cut(line, " ")
		drop := false
		for _, n := range names {
			if strings.EqualFold(owner, n+".") {
				drop = true
			}
		}
		if !drop {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// limitCase is a DNS that is hostile or broken by its content rather than
// by its transport: loops, huge answers, SPF's limits.
type limitCase struct {
	name    string
	replace []string // world names whose records zone replaces
	zone    string
	check   func(ctx context.Context, r allResolver) verdict.Result
	want    []verdict.Status // acceptable statuses
	// maxQueries bounds the queries the check may make (0: no bound).
	maxQueries int
}

func checkFcrdns(ctx context.Context, r allResolver) verdict.Result {
	return fcrdns.Check(ctx, r, clientIP)
}
func checkHelo(ctx context.Context, r allResolver) verdict.Result {
	return helo.Check(ctx, r, clientIP, heloName, nil)
}
func checkSPF(ctx context.Context, r allResolver) verdict.Result {
	return spf.Check(ctx, r, clientIP, heloName, mailFrom)
}
func checkSender(ctx context.Context, r allResolver) verdict.Result {
	return verify.CheckSenderDomain(ctx, r, mailFrom, nil)
}
func checkDNSBL(ctx context.Context, r allResolver) verdict.Result {
	return dnsbl.Check(ctx, r, clientIP, ipLists)
}
func checkDMARC(ctx context.Context, r allResolver) verdict.Result {
	return dmarc.Check(ctx, r, "example.org", verdict.Result{Check: spf.Name, Status: verdict.Pass, Auth: spfAuth("pass", mailFrom)})
}

// ptrNames returns n PTR records for the world's client; if confirm >= 0,
// the name at that position is mail.example.org, which resolves back.
func ptrNames(n, confirm int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("host%03d.example.com.", i)
		if i == confirm {
			name = "mail.example.org."
		}
		fmt.Fprintf(&b, "10.2.0.192.in-addr.arpa. PTR %s\n", name)
		fmt.Fprintf(&b, "host%03d.example.com. A 198.51.100.%d\n", i, i+1)
	}
	return b.String()
}

// junkTXT returns n-1 TXT records of name that are no SPF, DKIM or DMARC
// record, and the record given.
func junkTXT(name string, n int, record string) string {
	var b strings.Builder
	for i := 0; i < n-1; i++ {
		fmt.Fprintf(&b, "%s TXT \"google-site-verification=%040d\"\n", name, i)
	}
	fmt.Fprintf(&b, "%s TXT \"%s\"\n", name, record)
	return b.String()
}

// spfChain returns n SPF records, each including the next, the last
// ending in -all.
func spfChain(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "example.org. TXT \"v=spf1 include:i1.example.org -all\"\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "i%d.example.org. TXT \"v=spf1 include:i%d.example.org -all\"\n", i, i+1)
	}
	fmt.Fprintf(&b, "i%d.example.org. TXT \"v=spf1 -all\"\n", n)
	return b.String()
}

// spfTerms returns an SPF record of example.org with n terms made by f.
func spfTerms(n int, f func(i int) string) string {
	terms := []string{"v=spf1"}
	for i := 0; i < n; i++ {
		terms = append(terms, f(i))
	}
	return "example.org. TXT \"" + strings.Join(append(terms, "-all"), " ") + "\"\n"
}

func limitCases(t testing.TB) []limitCase {
	good := signedMessage(t)
	checkDKIM := func(ctx context.Context, r allResolver) verdict.Result {
		return dkim.Check(ctx, r, bytes.NewReader(good))
	}
	var hosts strings.Builder
	for i := 0; i < 11; i++ {
		fmt.Fprintf(&hosts, "h%d.example.org. A 198.51.100.%d\n", i, i+1)
	}
	var mxs strings.Builder
	for i := 0; i < 11; i++ {
		fmt.Fprintf(&mxs, "example.org. MX %d h%d.example.org.\n", i, i)
	}
	T, P, F, E := verdict.TempError, verdict.Pass, verdict.Fail, verdict.PermError
	return []limitCase{
		// CNAME loops: a recursive server gives up with SERVFAIL, so the
		// check cannot know the answer.
		{name: "cname-loop/fcrdns-ptr", replace: []string{"10.2.0.192.in-addr.arpa"},
			zone:  "10.2.0.192.in-addr.arpa. CNAME a.loop.example.\na.loop.example. CNAME 10.2.0.192.in-addr.arpa.\n",
			check: checkFcrdns, want: []verdict.Status{T}},
		{name: "cname-loop/fcrdns-forward", replace: []string{"mail.example.org"},
			zone:  "mail.example.org. CNAME mail.example.org.\n",
			check: checkFcrdns, want: []verdict.Status{T}},
		{name: "cname-loop/helo", replace: []string{"mail.example.org"},
			zone:  "mail.example.org. CNAME b.loop.example.\nb.loop.example. CNAME mail.example.org.\n",
			check: checkHelo, want: []verdict.Status{T}},
		{name: "cname-loop/dnsbl", zone: "10.2.0.192.bl.example. CNAME 10.2.0.192.bl.example.\n",
			check: checkDNSBL, want: []verdict.Status{T}},
		{name: "cname-loop/spf", replace: []string{"example.org"},
			zone:  "example.org. CNAME c.loop.example.\nc.loop.example. CNAME example.org.\n",
			check: checkSPF, want: []verdict.Status{T}},
		{name: "cname-loop/spf-include", replace: []string{"_spf.example.org"},
			zone:  "_spf.example.org. CNAME _spf.example.org.\n",
			check: checkSPF, want: []verdict.Status{T}},
		{name: "cname-loop/sender-domain", replace: []string{"example.org"},
			zone:  "example.org. CNAME c.loop.example.\nc.loop.example. CNAME example.org.\n",
			check: checkSender, want: []verdict.Status{T}},
		{name: "cname-loop/dkim", replace: []string{"sel._domainkey.example.org"},
			zone:  "sel._domainkey.example.org. CNAME sel._domainkey.example.org.\n",
			check: checkDKIM, want: []verdict.Status{T}},
		{name: "cname-loop/dmarc", replace: []string{"_dmarc.example.org"},
			zone:  "_dmarc.example.org. CNAME d.loop.example.\nd.loop.example. CNAME _dmarc.example.org.\n",
			check: checkDMARC, want: []verdict.Status{T}},

		// A PTR with 100 names: only fcrdns.MaxNames of them are
		// forward-checked, whatever the order.
		{name: "ptr-100/first-confirms", replace: []string{"10.2.0.192.in-addr.arpa"}, zone: ptrNames(100, 0),
			check: checkFcrdns, want: []verdict.Status{P}, maxQueries: 1 + fcrdns.MaxNames},
		{name: "ptr-100/none-confirms", replace: []string{"10.2.0.192.in-addr.arpa"}, zone: ptrNames(100, -1),
			check: checkFcrdns, want: []verdict.Status{F}, maxQueries: 1 + fcrdns.MaxNames},
		{name: "ptr-100/last-confirms", replace: []string{"10.2.0.192.in-addr.arpa"}, zone: ptrNames(100, 99),
			check: checkFcrdns, want: []verdict.Status{P, F}, maxQueries: 1 + fcrdns.MaxNames},
		// SPF's ptr mechanism with 100 names: RFC 7208 §5.5 checks 10.
		{name: "ptr-100/spf-ptr", replace: []string{"10.2.0.192.in-addr.arpa", "example.org"},
			zone:  ptrNames(100, -1) + "example.org. TXT \"v=spf1 ptr -all\"\nexample.org. MX 10 mail.example.org.\n",
			check: checkSPF, want: []verdict.Status{F}, maxQueries: 2 + 2*10},

		// 50 TXT records at one name.
		{name: "txt-50/spf", replace: []string{"example.org"},
			zone:  junkTXT("example.org.", 50, "v=spf1 include:_spf.example.org -all") + "example.org. MX 10 mail.example.org.\n",
			check: checkSPF, want: []verdict.Status{P}},
		{name: "txt-50/spf-two-records", replace: []string{"example.org"},
			zone:  junkTXT("example.org.", 49, "v=spf1 -all") + "example.org. TXT \"v=spf1 +all\"\n",
			check: checkSPF, want: []verdict.Status{E}},
		{name: "txt-50/dmarc", replace: []string{"_dmarc.example.org"},
			zone:  junkTXT("_dmarc.example.org.", 50, "v=DMARC1; p=reject"),
			check: checkDMARC, want: []verdict.Status{P}},
		// RFC 6376 §6.1.2: with several key records the verifier may
		// pick one or try each; either way it must answer, fast.
		{name: "txt-50/dkim", replace: []string{"sel._domainkey.example.org"},
			zone:  junkTXT("sel._domainkey.example.org.", 50, dkimRecord()),
			check: checkDKIM, want: []verdict.Status{P, E}},
		{name: "txt-50/dnsbl-explanation", replace: []string{"10.2.0.192.bl.example"},
			zone: "10.2.0.192.bl.example. A 127.0.0.2\n" + junkTXT("10.2.0.192.bl.example.", 50, "listed\\013\\010X-Injected: yes\\000"),
			check: func(ctx context.Context, r allResolver) verdict.Result {
				return dnsbl.Check(ctx, r, clientIP, []dnsbl.List{{Zone: "bl.example", Score: 5, TXT: true}})
			}, want: []verdict.Status{F}},

		// SPF include and redirect loops, RFC 7208 §4.6.4 (each include
		// counts, so a loop ends at the limit at the latest).
		{name: "spf-loop/self-include", replace: []string{"example.org"},
			zone:  "example.org. TXT \"v=spf1 include:example.org -all\"\n",
			check: checkSPF, want: []verdict.Status{E}, maxQueries: 12},
		{name: "spf-loop/two-way", replace: []string{"example.org", "_spf.example.org"},
			zone:  "example.org. TXT \"v=spf1 include:_spf.example.org -all\"\n_spf.example.org. TXT \"v=spf1 include:example.org -all\"\n",
			check: checkSPF, want: []verdict.Status{E}, maxQueries: 12},
		{name: "spf-loop/redirect", replace: []string{"example.org"},
			zone:  "example.org. TXT \"v=spf1 redirect=example.org\"\n",
			check: checkSPF, want: []verdict.Status{E}, maxQueries: 12},

		// More than 10 DNS-querying terms.
		{name: "spf-limit/10-includes", replace: []string{"example.org"}, zone: spfChain(10),
			check: checkSPF, want: []verdict.Status{F}},
		{name: "spf-limit/11-includes", replace: []string{"example.org"}, zone: spfChain(11),
			check: checkSPF, want: []verdict.Status{E}, maxQueries: 12},
		{name: "spf-limit/11-a", replace: []string{"example.org"},
			zone: hosts.String() + spfTerms(11, func(i int) string { return fmt.Sprintf("a:h%d.example.org", i) }),
			// One query a term: A only, for an IPv4 client (RFC 7208 §5.3).
			check: checkSPF, want: []verdict.Status{E}, maxQueries: 1 + 10},
		{name: "spf-limit/11-mx-hosts", replace: []string{"example.org"},
			zone:  hosts.String() + mxs.String() + "example.org. TXT \"v=spf1 mx -all\"\n",
			check: checkSPF, want: []verdict.Status{E}, maxQueries: 12},

		// Void lookups, RFC 7208 §4.6.4: two are allowed, the third is
		// permerror.
		{name: "spf-void/2", replace: []string{"example.org"},
			zone:  spfTerms(2, func(i int) string { return fmt.Sprintf("a:nx%d.example.org", i) }),
			check: checkSPF, want: []verdict.Status{F}},
		{name: "spf-void/3", replace: []string{"example.org"},
			zone:  spfTerms(3, func(i int) string { return fmt.Sprintf("a:nx%d.example.org", i) }),
			check: checkSPF, want: []verdict.Status{E}},
	}
}

// TestDNSLimits runs each hostile-DNS scenario in memory and over the
// wire (where the big answers exceed 1232 bytes and need TCP): the check
// answers within the deadline with the status RFCs give, makes a bounded
// number of queries, and keeps its reason one clean line; and the whole
// policy, for the world's good session, gives no 5xx.
func TestDNSLimits(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	store := greylist.NewMemory()
	seedGreylist(t, store, c, clientIP)
	for _, lc := range limitCases(t) {
		for _, wire := range []bool{false, true} {
			name := lc.name + "/mem"
			if wire {
				name = lc.name + "/wire"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r, err := resolvertest.New(worldZoneWithout(lc.replace...) + lc.zone)
				if err != nil {
					t.Fatal(err)
				}
				var res allResolver = r
				if wire {
					res = wireResolver(t, r, answerTimeout)
				}
				got := timed(t, checkCase{name: lc.name, run: lc.check}, res)
				ok := false
				for _, w := range lc.want {
					ok = ok || got.Status == w
				}
				if !ok {
					t.Errorf("%v, want one of %v: %s (%v)", got.Status, lc.want, got.Reason, got.Err)
				}
				if got.Action == verdict.Reject {
					t.Errorf("demands reject: %s", got.Reason)
				}
				// Over the wire a truncated answer costs a second query,
				// over TCP.
				if q, lim := r.TotalQueries(), lc.maxQueries; lim > 0 && (!wire && q > lim || wire && q > lim+2) {
					t.Errorf("%d queries, want at most %d", q, lim)
				}
				if got.Reason != verdict.Printable(got.Reason) || strings.ContainsAny(got.Reason, "\r\n") {
					t.Errorf("reason is not one printable line: %q", got.Reason)
				}

				p := fullPolicy(res, store, c, deadline)
				start := time.Now()
				ds := stageDecisions(context.Background(), p, worldSession(signedMessage(t)))
				assertWithin(t, "stages", time.Since(start), 5*deadline)
				assertNo5xx(t, "stages", ds...)
				start = time.Now()
				d := p.EvaluateAll(context.Background(), worldSession(signedMessage(t)))
				assertWithin(t, "EvaluateAll", time.Since(start), deadline)
				assertNo5xx(t, "EvaluateAll", d)
			})
		}
	}
}
