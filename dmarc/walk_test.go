package dmarc

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// asked returns the _dmarc names r was asked for, without the prefix,
// sorted.
func asked(r *resolvertest.Resolver, candidates ...string) []string {
	var out []string
	for _, c := range candidates {
		if r.Queries("_dmarc."+c, dns.TypeTXT) > 0 {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// TestWalkNames: RFC 9989 §4.10 steps 3-7 and its example, and §5.1.8.
func TestWalkNames(t *testing.T) {
	for in, want := range map[string][]string{
		"com":                {"com"},
		"example.com":        {"example.com", "com"},
		"a.mail.example.com": {"a.mail.example.com", "mail.example.com", "example.com", "com"},
		// §4.10: eight queries for a 13-label name.
		"a.b.c.d.e.f.g.h.i.j.mail.example.com": {"a.b.c.d.e.f.g.h.i.j.mail.example.com",
			"g.h.i.j.mail.example.com", "h.i.j.mail.example.com", "i.j.mail.example.com",
			"j.mail.example.com", "mail.example.com", "example.com", "com"},
		// §5.1.8: ten labels.
		"mail.a.b.c.d.e.f.g.example.com": {"mail.a.b.c.d.e.f.g.example.com",
			"c.d.e.f.g.example.com", "d.e.f.g.example.com", "e.f.g.example.com",
			"f.g.example.com", "g.example.com", "example.com", "com"},
		// Eight labels: "If x >= 8, remove labels until 7 remain", the
		// same as removing one.
		"a.b.c.d.e.f.g.h": {"a.b.c.d.e.f.g.h", "b.c.d.e.f.g.h", "c.d.e.f.g.h", "d.e.f.g.h", "e.f.g.h", "f.g.h", "g.h", "h"},
	} {
		if got := walkNames(in); !slices.Equal(got, want) {
			t.Errorf("walkNames(%q) = %q, want %q", in, got, want)
		}
		if len(walkNames(in)) > maxWalk {
			t.Errorf("walkNames(%q): more than %d names", in, maxWalk)
		}
	}
}

// TestOrgWalk runs the examples of RFC 9989 §4.10.2 and Appendix B.4.
func TestOrgWalk(t *testing.T) {
	for _, c := range []struct {
		name, zone, start string
		org, psd          string
	}{
		{"§4.10.2 highest record", `_dmarc.mail.example.com. TXT "v=DMARC1; p=none"
_dmarc.example.com. TXT "v=DMARC1; p=reject"`, "a.mail.example.com", "example.com", ""},
		{"§4.10.2 psd=n", `_dmarc.mail.example.com. TXT "v=DMARC1; p=none; psd=n"
_dmarc.example.com. TXT "v=DMARC1; p=reject"`, "a.mail.example.com", "mail.example.com", ""},
		{"§4.10.2 psd=y at com", `_dmarc.com. TXT "v=DMARC1; p=none; psd=y"`, "a.mail.example.com", "example.com", "com"},
		{"§4.10.2 psd=y one level up", `_dmarc.example.com. TXT "v=DMARC1; psd=y; p=none"`, "mail.example.com", "mail.example.com", "example.com"},
		{"psd=y at the start", `_dmarc.gov. TXT "v=DMARC1; psd=y; p=reject"`, "gov", "gov", ""},
		{"no record at all", ``, "a.b.example", "a.b.example", ""},
		{"several records are discarded", `_dmarc.example.com. TXT "v=DMARC1; p=none; psd=n"
_dmarc.example.com. TXT "v=DMARC1; p=reject; psd=n"
_dmarc.com. TXT "v=DMARC1; p=none"`, "mail.example.com", "com", ""},
		{"B.4.1 author", `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.signing.example.com. TXT "v=DMARC1; p=reject"`, "example.com", "example.com", ""},
		{"B.4.1 DKIM", `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.signing.example.com. TXT "v=DMARC1; p=reject"`, "signing.example.com", "example.com", ""},
		{"B.4.2 author", `_dmarc.example.com. TXT "v=DMARC1; p=reject"`, "a.b.c.d.e.f.g.h.i.j.k.example.com", "example.com", ""},
		{"B.4.3 author", bankZone, "giant.bank.example", "giant.bank.example", "bank.example"},
		{"B.4.3 SPF", bankZone, "mail.giant.bank.example", "giant.bank.example", "bank.example"},
		{"B.4.3 DKIM", bankZone, "mail.mega.bank.example", "mega.bank.example", "bank.example"},
	} {
		r := resolvertest.MustNew(c.zone)
		l := newLookups(context.Background(), r)
		org, psd, err := orgWalk(l, c.start)
		l.wait()
		if err != nil || org != c.org || psd != c.psd {
			t.Errorf("%s: orgWalk(%q) = %q, %q, %v; want %q, %q", c.name, c.start, org, psd, err, c.org, c.psd)
		}
	}
}

// bankZone is RFC 9989 Appendix B.4.3.
const bankZone = `_dmarc.bank.example. TXT "v=DMARC1; p=reject; psd=y"
_dmarc.giant.bank.example. TXT "v=DMARC1; p=quarantine"
`

// TestRFC9989Examples runs the examples of RFC 9989's text and appendices
// through Evaluate, with the names each one says are asked.
func TestRFC9989Examples(t *testing.T) {
	ctx := context.Background()
	type ex struct {
		name, zone, from string
		results          []verdict.Result
		status           verdict.Status
		policy           Disposition
		reason           string
		asked            []string // _dmarc names asked, of candidates
		candidates       []string
	}
	b41 := `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.signing.example.com. TXT "v=DMARC1; p=none"`
	deep := "a.b.c.d.e.f.g.h.i.j.k.example.com"
	deepNames := []string{deep, "b.c.d.e.f.g.h.i.j.k.example.com", "f.g.h.i.j.k.example.com", "g.h.i.j.k.example.com", "h.i.j.k.example.com",
		"i.j.k.example.com", "j.k.example.com", "k.example.com", "example.com", "com", "signing.example.com"}
	for _, c := range []ex{
		// B.1.1: SPF strict and relaxed alignment, and none.
		{name: "B.1.1 example 1", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; aspf=s"`, from: "example.com",
			results: []verdict.Result{spf(authres.ResultPass, "sender@example.com", "")}, status: verdict.Pass},
		{name: "B.1.1 example 2", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject"`, from: "example.com",
			results: []verdict.Result{spf(authres.ResultPass, "sender@child.example.com", "")}, status: verdict.Pass},
		{name: "B.1.1 example 2 strict", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; aspf=s"`, from: "example.com",
			results: []verdict.Result{spf(authres.ResultPass, "sender@child.example.com", "")}, status: verdict.Fail, policy: Reject},
		{name: "B.1.1 example 3", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject"`, from: "child.example.com",
			results: []verdict.Result{spf(authres.ResultPass, "sender@example.net", "")}, status: verdict.Fail, policy: Reject},
		// B.1.2: DKIM.
		{name: "B.1.2 example 1", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; adkim=s"`, from: "example.com",
			results: []verdict.Result{dkim("pass d=example.com")}, status: verdict.Pass},
		{name: "B.1.2 example 2", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject"`, from: "child.example.com",
			results: []verdict.Result{dkim("pass d=example.com")}, status: verdict.Pass},
		{name: "B.1.2 example 3", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject"`, from: "child.example.com",
			results: []verdict.Result{dkim("pass d=example.net")}, status: verdict.Fail, policy: Reject},
		// B.2.1-B.2.3: monitoring mode records (strings of one TXT record
		// joined, RFC 9989 §4.5).
		{name: "B.2.1", zone: `_dmarc.example.com. IN TXT ( "v=DMARC1; p=none; " "rua=mailto:dmarc-feedback@example.com" )`,
			from: "example.com", status: verdict.Fail, policy: None, reason: "(p=none)"},
		{name: "B.2.2", zone: `_dmarc.example.com. IN TXT ( "v=DMARC1; p=none; " "rua=mailto:dmarc-feedback@example.com; " "ruf=mailto:auth-reports@example.com" )`,
			from: "example.com", status: verdict.Fail, policy: None},
		{name: "B.2.3", zone: `_dmarc.example.com. IN TXT ( "v=DMARC1; p=none; " "rua=mailto:dmarc-feedback@example.com; " "ruf=mailto:auth-reports@thirdparty.example.net" )
example.com._report._dmarc.thirdparty.example.net. TXT "v=DMARC1;"`,
			from: "example.com", status: verdict.Fail, policy: None},
		// B.2.5: testing, then enforcement.
		{name: "B.2.5 testing", zone: `_dmarc.test.example.com. IN TXT ( "v=DMARC1; p=quarantine; " "rua=mailto:dmarc-feedback@example.com," "mailto:tld-test@thirdparty.example.net; " "t=y" )`,
			from: "test.example.com", status: verdict.Fail, policy: None, reason: "(p=quarantine, t=y testing)"},
		{name: "B.2.5 enforcing", zone: `_dmarc.test.example.com. IN TXT ( "v=DMARC1; p=reject; " "rua=mailto:dmarc-feedback@example.com," "mailto:tld-test@thirdparty.example.net" )`,
			from: "test.example.com", status: verdict.Fail, policy: Reject},
		// B.3.1: both identifiers align.
		{name: "B.3.1", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com"`, from: "example.com",
			results: []verdict.Result{spf(authres.ResultPass, "x@mail.example.com", ""), dkim("pass d=example.com")}, status: verdict.Pass,
			reason: "aligned SPF (mail.example.com) pass"},
		{name: "B.3.1 unaligned", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com"`, from: "example.com",
			results: []verdict.Result{spf(authres.ResultPass, "x@example.net", ""), dkim("pass d=example.org")}, status: verdict.Fail, policy: Reject},
		// B.4.1: the DKIM identity's organizational domain is example.com.
		{name: "B.4.1", zone: b41, from: "example.com", results: []verdict.Result{spf(authres.ResultFail, "x@example.com", ""), dkim("pass d=signing.example.com")},
			status: verdict.Pass, reason: "aligned DKIM (signing.example.com) pass",
			asked: sorted("example.com", "com", "signing.example.com"), candidates: []string{"example.com", "com", "signing.example.com"}},
		// B.4.2: the deep walk, and the policy domain example.com.
		{name: "B.4.2 SPF", zone: b41, from: deep, results: []verdict.Result{spf(authres.ResultPass, "x@example.com", "")}, status: verdict.Pass,
			asked: sorted(deep, "g.h.i.j.k.example.com", "h.i.j.k.example.com", "i.j.k.example.com", "j.k.example.com", "k.example.com", "example.com", "com"), candidates: deepNames},
		{name: "B.4.2 DKIM", zone: b41, from: deep, results: []verdict.Result{dkim("pass d=signing.example.com")}, status: verdict.Pass},
		{name: "B.4.2 policy domain", zone: b41, from: deep, status: verdict.Fail, policy: Reject, reason: "(p=reject) from _dmarc.example.com"},
		// B.4.3: the PSD record.
		{name: "B.4.3 SPF", zone: bankZone, from: "giant.bank.example", results: []verdict.Result{spf(authres.ResultPass, "x@mail.giant.bank.example", ""), dkim("pass d=mail.mega.bank.example")},
			status: verdict.Pass, reason: "aligned SPF (mail.giant.bank.example) pass"},
		{name: "B.4.3 DKIM alone", zone: bankZone, from: "giant.bank.example", results: []verdict.Result{dkim("pass d=mail.mega.bank.example")},
			status: verdict.Fail, policy: Quarantine, reason: "(p=quarantine)"},
		// §5.1.8: the psd=n record at the seventh label is never found.
		{name: "§5.1.8", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.b.c.d.e.f.g.example.com. TXT "v=DMARC1; p=none; psd=n"`, from: "mail.a.b.c.d.e.f.g.example.com",
			status: verdict.Fail, policy: Reject, reason: "from _dmarc.example.com",
			asked:      sorted("mail.a.b.c.d.e.f.g.example.com", "c.d.e.f.g.example.com", "d.e.f.g.example.com", "e.f.g.example.com", "f.g.example.com", "g.example.com", "example.com", "com"),
			candidates: []string{"mail.a.b.c.d.e.f.g.example.com", "a.b.c.d.e.f.g.example.com", "b.c.d.e.f.g.example.com", "c.d.e.f.g.example.com", "d.e.f.g.example.com", "e.f.g.example.com", "f.g.example.com", "g.example.com", "example.com", "com"}},
		{name: "§5.1.8 record at the author domain", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.mail.a.b.c.d.e.f.g.example.com. TXT "v=DMARC1; p=none"`, from: "mail.a.b.c.d.e.f.g.example.com", status: verdict.Fail, policy: None},
	} {
		r := resolvertest.MustNew(c.zone)
		res := New(r, nil).Evaluate(ctx, c.from, c.results...)
		check(t, res, row{id: c.name, from: c.from, status: c.status, policy: c.policy, reason: c.reason})
		if c.asked != nil {
			if got := asked(r, c.candidates...); !slices.Equal(got, c.asked) {
				t.Errorf("%s: asked %q, want %q", c.name, got, c.asked)
			}
		}
	}
}

// TestRFC7489vs9989 runs the cases where the two discovery methods differ,
// in both modes.
func TestRFC7489vs9989(t *testing.T) {
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	for _, c := range []struct {
		name, zone, from string
		results          []verdict.Result
		walk, psl        row
	}{
		{
			// A public suffix domain with a policy (RFC 9989 §5.2): the
			// walk finds it for an agency without its own record; the
			// public suffix list has no notion of it.
			name: "PSD _dmarc.gov psd=y",
			zone: `_dmarc.gov. TXT "v=DMARC1; p=reject; psd=y; np=reject; rua=mailto:dmarc@dotgov.example"
agency.gov. MX 10 mx.agency.gov.
mail.agency.gov. A 192.0.2.1`,
			from:    "mail.agency.gov",
			results: noPass,
			walk:    row{status: verdict.Fail, policy: Reject, reason: "(p=reject) from _dmarc.gov"},
			psl:     row{status: verdict.None},
		},
		{
			name: "PSD _dmarc.gov psd=y, a non-existent name (np=)",
			zone: `_dmarc.gov. TXT "v=DMARC1; p=none; sp=none; psd=y; np=reject"`,
			from: "forged.gov", results: noPass,
			walk: row{status: verdict.Fail, policy: Reject, reason: "(np=reject) from _dmarc.gov"},
			psl:  row{status: verdict.None},
		},
		{
			// A company under a multi-label suffix whose department runs
			// its own DMARC (psd=n, RFC 9989 §5.1.8): the walk honours
			// the delegation, the list sees only the company.
			name: "delegated subdomain under co.uk, policy",
			zone: `_dmarc.company.co.uk. TXT "v=DMARC1; p=reject"
_dmarc.dept.company.co.uk. TXT "v=DMARC1; p=quarantine; psd=n"
host.dept.company.co.uk. A 192.0.2.7`,
			from: "host.dept.company.co.uk", results: noPass,
			walk: row{status: verdict.Fail, policy: Quarantine, reason: "(p=quarantine) from _dmarc.dept.company.co.uk"},
			psl:  row{status: verdict.Fail, policy: Reject, reason: "from _dmarc.company.co.uk"},
		},
		{
			name: "delegated subdomain under co.uk, alignment",
			zone: `_dmarc.company.co.uk. TXT "v=DMARC1; p=reject"
_dmarc.dept.company.co.uk. TXT "v=DMARC1; p=quarantine; psd=n"`,
			from:    "dept.company.co.uk",
			results: []verdict.Result{dkim("pass d=company.co.uk")},
			walk:    row{status: verdict.Fail, policy: Quarantine},
			psl:     row{status: verdict.Pass},
		},
		{
			// A private registry the public suffix list knows (duckdns.org
			// is in its PRIVATE section) and that says so with psd=y: the
			// walk finds its policy for a customer without a record, the
			// list treats the customer as a registrant with no policy.
			name: "private registry via psd=y",
			zone: `_dmarc.duckdns.org. TXT "v=DMARC1; p=reject; psd=y"
victim.duckdns.org. A 192.0.2.8`,
			from: "victim.duckdns.org", results: noPass,
			walk: row{status: verdict.Fail, policy: Reject, reason: "from _dmarc.duckdns.org"},
			psl:  row{status: verdict.None},
		},
		{
			name: "private registry: tenants stay apart in both",
			zone: `_dmarc.duckdns.org. TXT "v=DMARC1; p=reject; psd=y"
_dmarc.victim.duckdns.org. TXT "v=DMARC1; p=reject"`,
			from:    "victim.duckdns.org",
			results: []verdict.Result{dkim("pass d=attacker.duckdns.org"), spf(authres.ResultPass, "x@attacker.duckdns.org", "")},
			walk:    row{status: verdict.Fail, policy: Reject},
			psl:     row{status: verdict.Fail, policy: Reject},
		},
	} {
		for _, psl := range []bool{false, true} {
			want, mode := c.walk, "tree walk"
			if psl {
				want, mode = c.psl, "RFC 7489"
			}
			r := resolvertest.MustNew(c.zone)
			res := New(r, &Options{PublicSuffixList: psl}).Evaluate(context.Background(), c.from, c.results...)
			want.id, want.from = c.name+" ("+mode+")", c.from
			check(t, res, want)
		}
	}
}

// TestWalkFailures: a DNS failure in the walk is TempError when it could
// change the answer, and ignored when the walk stopped before it.
func TestWalkFailures(t *testing.T) {
	zone := `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.mail.example.com. TXT "v=DMARC1; p=reject; psd=n"
_dmarc.signing.example.net. TXT "v=DMARC1; p=none"`
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	for _, c := range []struct {
		from, faulty string
		results      []verdict.Result
		status       verdict.Status
		policy       Disposition
	}{
		{"a.example.com", "_dmarc.a.example.com", noPass, verdict.TempError, ""},
		{"a.example.com", "_dmarc.example.com", noPass, verdict.TempError, ""},
		// example.com has a record without psd=: the walk goes on to
		// com, whose record (if any) would be the organizational domain.
		{"a.example.com", "_dmarc.com", noPass, verdict.TempError, ""},
		// psd=n stops the walk: nothing above it matters.
		{"a.mail.example.com", "_dmarc.example.com", noPass, verdict.Fail, Reject},
		{"a.mail.example.com", "_dmarc.com", noPass, verdict.Fail, Reject},
		// An identity whose organizational domain cannot be found: its
		// pass might align.
		{"mail.example.com", "_dmarc.sub.mail.example.com", []verdict.Result{dkim("pass d=sub.mail.example.com")}, verdict.TempError, ""},
		// ... unless another identity passes aligned, or it is the author
		// domain itself.
		{"mail.example.com", "_dmarc.sub.mail.example.com", []verdict.Result{dkim("pass d=sub.mail.example.com", "pass d=mail.example.com")}, verdict.Pass, ""},
		// Strict alignment needs no walk.
		{"mail.example.com", "_dmarc.com", []verdict.Result{dkim("pass d=mail.example.com")}, verdict.Pass, ""},
	} {
		for _, f := range []resolvertest.Fault{resolvertest.ServFail, resolvertest.Timeout} {
			r := resolvertest.MustNew(zone)
			r.SetTimeoutAfter(20 * time.Millisecond)
			r.SetFault(c.faulty, f)
			res := Check(context.Background(), r, c.from, c.results...)
			check(t, res, row{id: c.from + " " + c.faulty, from: c.from, status: c.status, policy: c.policy})
			if c.status == verdict.TempError && (res.Err == nil && !strings.Contains(res.Reason, "DNS failure")) {
				t.Errorf("%s with %v at %s: no Err (%s)", c.from, f, c.faulty, res.Reason)
			}
		}
	}
}

// TestTesting: t=y applies the next weaker disposition (RFC 9989 §4.7) and
// has no effect on none; pct= is ignored under RFC 9989.
func TestTesting(t *testing.T) {
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	for rec, want := range map[string]Disposition{
		"p=reject; t=y": Quarantine, "p=quarantine; t=y": None, "p=none; t=y": None, "p=reject; t=n": Reject,
		"p=reject; t=Y": Quarantine, "p=reject; t=bogus": Reject, "p=reject; pct=0": Reject, "p=reject; pct=0; t=y": Quarantine,
		"p=none; sp=reject; t=y": Quarantine,
	} {
		from := "example.com"
		if strings.Contains(rec, "sp=") {
			from = "sub.example.com"
		}
		r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; ` + rec + `"` + "\nsub.example.com. A 192.0.2.1")
		res := Check(context.Background(), r, from, noPass...)
		check(t, res, row{id: rec, from: from, status: verdict.Fail, policy: want})
	}
	// Under RFC 7489 t= is an unknown tag.
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject; t=y"`)
	res := New(r, &Options{PublicSuffixList: true}).Evaluate(context.Background(), "example.com", noPass...)
	check(t, res, row{from: "example.com", status: verdict.Fail, policy: Reject})
}

// TestRecordTolerance: a syntax error in an optional tag leaves the
// record's policy in force, in both modes.
func TestRecordTolerance(t *testing.T) {
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	for _, tag := range []string{"adkim=bob", "aspf=bob", "ri=bob", "pct=500", "fo=x", "rf=bob", "bogus", "psd=maybe", "t=sometimes", "sp=quarantine; sp=none"} {
		for _, psl := range []bool{false, true} {
			r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; ` + tag + `; p=reject"`)
			res := New(r, &Options{PublicSuffixList: psl}).Evaluate(context.Background(), "example.com", noPass...)
			check(t, res, row{id: tag, from: "example.com", status: verdict.Fail, policy: Reject})
		}
	}
}

// TestOneRoundTrip: discovery with every walk, the identity's included,
// costs one DNS round trip, not one per label.
func TestOneRoundTrip(t *testing.T) {
	const L = 40 * time.Millisecond
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject"`)
	r.SetLatency(L)
	start := time.Now()
	res := Check(context.Background(), r, "a.b.c.d.e.f.g.example.com", dkim("pass d=mail.example.com"))
	if d := time.Since(start); d >= 2*L || res.Status != verdict.Pass {
		t.Errorf("%v (%v) for a 9-label domain at L = %v, want one round trip", d, res.Status, L)
	}
	if n := r.TotalQueries(); n != 9 {
		t.Errorf("%d queries, want 8 for the author domain and 1 more for the signer", n)
	}
}
