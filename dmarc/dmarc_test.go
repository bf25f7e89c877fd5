package dmarc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

const testdata = "../../shared/testdata/dmarc"

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("shared DMARC test data not found at %s: %v", testdata, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// spf returns an spf check result for the MAIL FROM address from (or, with
// from empty, for the HELO name helo).
func spf(value authres.ResultValue, from, helo string) verdict.Result {
	return verdict.Result{Check: "spf", Auth: []authres.Result{&authres.SPFResult{Value: value, From: from, Helo: helo}}}
}

// dkim returns a dkim check result with one entry per "value d=domain"
// pair, e.g. dkim("pass d=example.com", "fail d=example.net").
func dkim(sigs ...string) verdict.Result {
	r := verdict.Result{Check: "dkim"}
	for _, s := range sigs {
		value, domain, _ := strings.Cut(s, " d=")
		r.Auth = append(r.Auth, &authres.DKIMResult{Value: authres.ResultValue(value), Domain: domain, Identifier: "@" + domain})
	}
	return r
}

// coin returns a Random that always draws n.
func coin(n int) func(int) int { return func(int) int { return n } }

type row struct {
	id      string // the case in CASES.md, or a name
	zone    string
	from    string
	results []verdict.Result
	status  verdict.Status
	policy  Disposition // the policy applied, for Fail
	reason  string      // in the reason
}

// run evaluates the rows with o (Random defaulting to a coin that always
// selects the message) and checks status, demand, reply, score and Auth.
func run(t *testing.T, rows []row, o *Options) {
	t.Helper()
	for _, c := range rows {
		t.Run(c.id, func(t *testing.T) {
			r := resolvertest.MustNew(c.zone)
			r.SetTimeoutAfter(50 * time.Millisecond)
			opts := Options{Random: coin(0)}
			if o != nil {
				opts = *o
			}
			res := New(r, &opts).Evaluate(context.Background(), c.from, c.results...)
			check(t, res, c)
		})
	}
}

func check(t *testing.T, res verdict.Result, c row) {
	t.Helper()
	if res.Check != "dmarc" || res.Status != c.status {
		t.Fatalf("Check %q, Status %v; want dmarc, %v (%s)", res.Check, res.Status, c.status, res.Reason)
	}
	if !strings.Contains(res.Reason, c.reason) {
		t.Errorf("reason %q does not contain %q", res.Reason, c.reason)
	}
	wantAction, wantScore := verdict.Accept, 0.0
	switch res.Status {
	case verdict.Pass:
		wantScore = DefaultScores.Pass
	case verdict.Fail:
		switch c.policy {
		case Reject:
			wantAction, wantScore = verdict.Reject, DefaultScores.Reject
		case Quarantine:
			wantAction, wantScore = verdict.Quarantine, DefaultScores.Quarantine
		case None:
			wantScore = DefaultScores.Monitor
		default:
			t.Fatal("test row without a policy for fail")
		}
		if !strings.Contains(res.Reason, "policy "+string(c.policy)+" (") {
			t.Errorf("reason %q does not name policy %s", res.Reason, c.policy)
		}
	case verdict.PermError:
		wantScore = DefaultScores.PermError
	case verdict.TempError:
		wantScore = DefaultScores.TempError
	}
	if res.Action != wantAction || res.Score != wantScore {
		t.Errorf("Action %v, Score %v; want %v, %v (%s)", res.Action, res.Score, wantAction, wantScore, res.Reason)
	}
	if wantAction == verdict.Reject {
		if res.Code != 550 || res.Enhanced != "5.7.26" {
			t.Errorf("reply %d %s, want 550 5.7.26", res.Code, res.Enhanced)
		}
	} else if res.Code != 0 || res.Enhanced != "" {
		t.Errorf("reply %d %s without a Reject demand", res.Code, res.Enhanced)
	}
	if len(res.Auth) != 1 {
		t.Fatalf("%d Auth entries, want 1", len(res.Auth))
	}
	a, ok := res.Auth[0].(*authres.GenericResult)
	if !ok || a.Method != "dmarc" || string(a.Value) != res.Status.String() || a.Params["header.from"] != strings.ToLower(strings.TrimSuffix(c.from, ".")) {
		t.Errorf("Auth %+v, want dmarc=%v header.from=%s", res.Auth[0], res.Status, c.from)
	}
	if res.Status == verdict.Fail && a.Params["policy.dmarc"] != string(c.policy) {
		t.Errorf("Auth %+v, want policy.dmarc=%s", a.Params, c.policy)
	}
	if res.Reason != verdict.Printable(res.Reason) {
		t.Errorf("reason %q is not printable", res.Reason)
	}
}

// caseIDs returns the case numbers of a section of CASES.md, e.g. "B".
func caseIDs(t *testing.T, section string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`(?m)^\| (`+section+`[0-9]+) \|`).FindAllStringSubmatch(readTestdata(t, "CASES.md"), -1) {
		ids = append(ids, m[1])
	}
	if len(ids) == 0 {
		t.Fatalf("no %s cases in CASES.md", section)
	}
	return ids
}

// covered fails the test if a case of CASES.md has no row here.
func covered(t *testing.T, section string, ids []string) {
	t.Helper()
	for _, id := range caseIDs(t, section) {
		if !slices.Contains(ids, id) {
			t.Errorf("CASES.md case %s has no test", id)
		}
	}
}

// TestOrgDomain runs the official PSL test table, test_psl.txt, and the
// samples of CASES.md section A.
func TestOrgDomain(t *testing.T) {
	re := regexp.MustCompile(`^checkPublicSuffix\((null|'[^']*'), (null|'[^']*')\);$`)
	n := 0
	for line := range strings.SplitSeq(readTestdata(t, "test_psl.txt"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("test_psl.txt line not understood: %q", line)
		}
		n++
		in, want := strings.Trim(m[1], "'"), strings.Trim(m[2], "'")
		if m[1] == "null" {
			in = ""
		}
		if m[2] == "null" {
			want = ""
		} else {
			// Expected values of IDN inputs are U-labels; OrgDomain
			// returns A-labels.
			want = OrgDomain(want)
		}
		if got := OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", in, got, want)
		}
	}
	if n != 78 {
		t.Errorf("%d cases in test_psl.txt, CASES.md says 78", n)
	}

	for in, want := range map[string]string{
		"example.com": "example.com", "b.example.com": "example.com", "a.b.example.com": "example.com",
		"com": "", "example.uk.com": "example.uk.com", "a.b.c.mm": "b.c.mm", "www.ck": "www.ck",
		"www.city.kobe.jp": "city.kobe.jp", "Example.COM": "example.com", ".example.com": "",
		"example.com.": "example.com", "user.github.io": "user.github.io", "github.io": "",
		"a.victim.duckdns.org": "victim.duckdns.org", "bücher.de": "xn--bcher-kva.de", "": "", "[192.0.2.1]": "",
	} {
		if got := OrgDomain(in); got != want {
			t.Errorf("OrgDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAlignment runs CASES.md section B.
func TestAlignment(t *testing.T) {
	cases := []struct {
		id, from, id2 string
		strict        bool
		want          bool
	}{
		{"B1", "example.com", "example.com", false, true},
		{"B1", "example.com", "example.com", true, true},
		{"B2", "example.com", "news.example.com", false, true},
		{"B3", "example.com", "news.example.com", true, false},
		{"B4", "example.com", "cbg.bounces.example.com", false, true},
		{"B5", "example.com", "cbg.bounces.example.com", true, false},
		{"B6", "news.example.com", "example.com", false, true},
		{"B6", "news.example.com", "example.com", true, false},
		{"B7", "example.com", "com", false, false},
		{"B8", "example.com", "example.net", false, false},
		{"B8", "example.com", "example.net", true, false},
		{"siblings", "a.example.com", "b.example.com", false, true},
		{"look-alike", "example.com", "evilexample.com", false, false},
		{"public suffix From", "github.io", "user.github.io", false, false},
		{"tenants of a private suffix", "victim.duckdns.org", "attacker.duckdns.org", false, false},
		{"same tenant of a private suffix", "victim.duckdns.org", "mail.victim.duckdns.org", false, true},
		{"public suffix equals itself", "github.io", "github.io", true, true},
	}
	var ids []string
	for _, c := range cases {
		ids = append(ids, c.id)
		if got := alignedPSL(c.from, c.id2, c.strict); got != c.want {
			t.Errorf("%s: aligned(%q, %q, strict %v) = %v, want %v", c.id, c.from, c.id2, c.strict, got, c.want)
		}
	}

	zone := `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.strict.example. TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
`
	rows := []row{
		{id: "B9", zone: zone, from: "example.com", status: verdict.Fail, policy: Reject, results: []verdict.Result{
			spf(authres.ResultFail, "a@example.com", ""), spf(authres.ResultSoftFail, "a@example.com", ""),
			spf(authres.ResultNeutral, "a@example.com", ""), spf(authres.ResultNone, "a@example.com", ""),
			spf(authres.ResultPermError, "a@example.com", "")}},
		{id: "B10", zone: zone, from: "example.com", status: verdict.Fail, policy: Reject, results: []verdict.Result{
			dkim("fail d=example.com", "pass d=other.example", "policy d=example.com", "neutral d=example.com")}},
		{id: "DKIM pass among several", zone: zone, from: "example.com", status: verdict.Pass, reason: "aligned DKIM (example.com) pass",
			results: []verdict.Result{dkim("fail d=example.com", "pass d=other.example", "pass d=EXAMPLE.com.")}},
		{id: "SPF address identity", zone: zone, from: "example.com", status: verdict.Pass, reason: "aligned SPF (bounces.example.com) pass",
			results: []verdict.Result{spf(authres.ResultPass, "x@bounces.example.com", "mx.other.example")}},
		{id: "SPF address in angle brackets", zone: zone, from: "example.com", status: verdict.Pass,
			results: []verdict.Result{spf(authres.ResultPass, "<x@example.com>", "")}},
		{id: "SPF bare domain identity", zone: zone, from: "example.com", status: verdict.Pass, reason: "aligned SPF (example.com) pass",
			results: []verdict.Result{spf(authres.ResultPass, "example.com", "mx.other.example")}},
		{id: "SPF null sender uses HELO", zone: zone, from: "example.com", status: verdict.Pass, reason: "aligned SPF (mx.example.com) pass",
			results: []verdict.Result{spf(authres.ResultPass, "", "mx.example.com")}},
		{id: "SPF HELO ignored when From is set", zone: zone, from: "example.com", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{spf(authres.ResultPass, "x@other.example", "mx.example.com")}},
		{id: "strict SPF", zone: zone, from: "strict.example", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{spf(authres.ResultPass, "x@sub.strict.example", "")}},
		{id: "strict DKIM exact", zone: zone, from: "strict.example", status: verdict.Pass,
			results: []verdict.Result{dkim("pass d=strict.example")}},
		{id: "unusable identity", zone: zone, from: "example.com", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{dkim("pass d=exa mple.com", "pass d="), spf(authres.ResultPass, "x@[192.0.2.1]", "")}},
		{id: "other methods ignored", zone: zone, from: "example.com", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{{Check: "fcrdns", Auth: []authres.Result{&authres.IPRevResult{Value: authres.ResultPass, IP: "192.0.2.1"}}}}},
	}
	for _, r := range rows {
		ids = append(ids, r.id)
	}
	run(t, rows, nil)
	covered(t, "B", ids)
}

// TestDiscovery runs CASES.md section D.
func TestDiscovery(t *testing.T) {
	zone := `
_dmarc.example.com.       TXT "v=DMARC1; p=reject"
_dmarc.multi.example.     TXT "v=DMARC1; p=none"
_dmarc.multi.example.     TXT "v=DMARC1; p=reject"
_dmarc.junk.example.      TXT "some other text"
_dmarc.junk.example.      TXT "v=DMARC1; p=quarantine"
_dmarc.nop.example.       TXT "v=DMARC1; rua=mailto:d@nop.example"
_dmarc.nop2.example.      TXT "v=DMARC1; pct=50"
_dmarc.bad.example.       TXT "v=DMARC1; p=bogus"
_dmarc.bad2.example.      TXT "v=DMARC1; p=bogus; rua=mailto:d@bad2.example"
_dmarc.badsp.example.     TXT "v=DMARC1; p=reject; sp=bogus"
_dmarc.badsp2.example.    TXT "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@badsp2.example"
_dmarc.notfirst.example.  TXT "p=reject; v=DMARC1"
_dmarc.v2.example.        TXT "v=DMARC2; p=reject"
_dmarc.lower.example.     TXT "v=dmarc1; p=reject"
_dmarc.spaced.example.    TXT " V = DMARC1 ; P = Reject ; ASPF = S "
_dmarc.malformed.example. TXT "v=DMARC1; p=none; bogus"
_dmarc.dup.example.       TXT "v=DMARC1; p=none; p=reject"
_dmarc.pct.example.       TXT "v=DMARC1; p=reject; pct=101"
_dmarc.multi2.example.    TXT "v=DMARC1; p=reject"
multi2.example.           TXT "v=DMARC1; p=none"
_dmarc.sub.multi3.example. TXT "v=DMARC1; p=none"
_dmarc.sub.multi3.example. TXT "v=DMARC1; p=none"
_dmarc.multi3.example.    TXT "v=DMARC1; p=reject"
`
	none := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	rows := []row{
		{id: "D1", zone: zone, from: "example.com", results: none, status: verdict.Fail, policy: Reject, reason: "(p=reject)"},
		{id: "D2", zone: zone, from: "mail.example.com", results: none, status: verdict.Fail, policy: Reject, reason: "(p=reject)"},
		{id: "D3", zone: zone, from: "a.b.c.example.com", results: none, status: verdict.Fail, policy: Reject},
		// RFC 9989 §4.10 step 2: several records at one name are all
		// discarded and the walk goes on (RFC 7489 stopped: pslRows).
		{id: "D4", zone: zone, from: "multi.example", results: none, status: verdict.None, reason: "no DMARC record for multi.example"},
		{id: "D5", zone: zone, from: "junk.example", results: none, status: verdict.Fail, policy: Quarantine},
		{id: "D6", zone: zone, from: "nop.example", results: none, status: verdict.Fail, policy: None, reason: "(p=none)"},
		// RFC 9989 §4.7: a record without p= is p=none (RFC 7489 applied
		// none: pslRows).
		{id: "D7", zone: zone, from: "nop2.example", results: none, status: verdict.Fail, policy: None, reason: "(p=none)"},
		{id: "D8", zone: zone, from: "bad.example", results: none, status: verdict.None, reason: "no valid p="},
		{id: "D8 with rua", zone: zone, from: "bad2.example", results: none, status: verdict.Fail, policy: None},
		{id: "D9", zone: zone, from: "absent.example", results: none, status: verdict.None, reason: "no DMARC record"},
		{id: "invalid sp without rua", zone: zone, from: "badsp.example", results: none, status: verdict.None},
		{id: "invalid sp with rua", zone: zone, from: "sub.badsp2.example", results: none, status: verdict.Fail, policy: None},
		{id: "v= not first", zone: zone, from: "notfirst.example", results: none, status: verdict.None},
		{id: "other version", zone: zone, from: "v2.example", results: none, status: verdict.None},
		{id: "version is case-sensitive", zone: zone, from: "lower.example", results: none, status: verdict.None},
		{id: "tags and keywords are case-insensitive", zone: zone, from: "spaced.example", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{spf(authres.ResultPass, "x@mail.spaced.example", "")}},
		// Syntax errors fall back to defaults and the record applies (RFC
		// 9989 §4.8, RFC 7489 §6.3); these were PermError, which enforced
		// nothing.
		{id: "malformed record", zone: zone, from: "malformed.example", results: none, status: verdict.Fail, policy: None},
		{id: "duplicate tag", zone: zone, from: "dup.example", results: none, status: verdict.Fail, policy: None},
		{id: "pct out of range", zone: zone, from: "pct.example", results: none, status: verdict.Fail, policy: Reject},
		{id: "TXT at the domain itself ignored", zone: zone, from: "multi2.example", results: none, status: verdict.Fail, policy: Reject},
		{id: "several records at the From name are discarded", zone: zone, from: "sub.multi3.example", results: none, status: verdict.Fail, policy: Reject,
			reason: "from _dmarc.multi3.example"},
		// RFC 9989 §4.10.2 rule 3: com has a record without psd=y, so it
		// is the organizational domain of example.com too: aligned.
		{id: "From domain is a public suffix", zone: `_dmarc.com. TXT "v=DMARC1; p=reject"`, from: "com", status: verdict.Pass,
			results: []verdict.Result{spf(authres.ResultPass, "x@example.com", "")}},
		{id: "trailing dot and case", zone: zone, from: "Example.COM.", results: none, status: verdict.Fail, policy: Reject},
		{id: "From domain invalid", zone: zone, from: "exa mple.com", results: none, status: verdict.PermError, reason: "is no domain name"},
	}
	ids := []string{"D10"} // TestDNSFailure
	for _, r := range rows {
		ids = append(ids, r.id)
	}
	run(t, rows, nil)
	covered(t, "D", ids)

	// Under RFC 7489 (D3): only the From name and the organizational
	// domain are asked.
	pslRows := []row{
		{id: "D4 (RFC 7489)", zone: zone, from: "multi.example", results: none, status: verdict.None, reason: "2 DMARC records at _dmarc.multi.example"},
		{id: "D7 (RFC 7489)", zone: zone, from: "nop2.example", results: none, status: verdict.None, reason: "no valid p= and no valid rua="},
		{id: "several records at the From name stop discovery (RFC 7489)", zone: zone, from: "sub.multi3.example", results: none, status: verdict.None},
		{id: "From domain is a public suffix (RFC 7489)", zone: `_dmarc.com. TXT "v=DMARC1; p=reject"`, from: "com", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{spf(authres.ResultPass, "x@example.com", "")}},
	}
	run(t, pslRows, &Options{PublicSuffixList: true, Random: coin(0)})
	r := resolvertest.MustNew(zone)
	psl := New(r, &Options{PublicSuffixList: true})
	psl.Evaluate(context.Background(), "a.b.c.example.com")
	for name, want := range map[string]int{
		"_dmarc.a.b.c.example.com": 1, "_dmarc.b.c.example.com": 0, "_dmarc.c.example.com": 0, "_dmarc.example.com": 1, "_dmarc.com": 0,
	} {
		if got := r.Queries(name, 16 /* TXT */); got != want {
			t.Errorf("D3: %d queries for %s, want %d", got, name, want)
		}
	}
	if r.TotalQueries() != 2 {
		t.Errorf("D3: %d queries, want 2", r.TotalQueries())
	}

	// The tree walk (RFC 9989 §4.10) asks the From name and every parent
	// once, all at once.
	r.ResetQueries()
	Check(context.Background(), r, "a.b.c.example.com")
	for name, want := range map[string]int{
		"_dmarc.a.b.c.example.com": 1, "_dmarc.b.c.example.com": 1, "_dmarc.c.example.com": 1, "_dmarc.example.com": 1, "_dmarc.com": 1,
	} {
		if got := r.Queries(name, 16 /* TXT */); got != want {
			t.Errorf("tree walk: %d queries for %s, want %d", got, name, want)
		}
	}
	if r.TotalQueries() != 5 {
		t.Errorf("tree walk: %d queries, want 5", r.TotalQueries())
	}
}

// TestDNSFailure: a DNS failure is never evidence (D10, and F's
// temperror.example).
func TestDNSFailure(t *testing.T) {
	zone := `_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.np.example. TXT "v=DMARC1; p=reject; np=reject"
`
	for _, f := range []resolvertest.Fault{resolvertest.ServFail, resolvertest.Refused, resolvertest.Timeout} {
		for _, c := range []struct{ from, faulty string }{
			{"x.example", "_dmarc.x.example"},             // D10
			{"sub.example.com", "_dmarc.sub.example.com"}, // the From name
			{"sub.example.com", "_dmarc.example.com"},     // the organizational domain
			{"gone.np.example", "gone.np.example"},        // whether the From domain exists, for np=
		} {
			r := resolvertest.MustNew(zone)
			r.SetTimeoutAfter(20 * time.Millisecond)
			r.SetFault(c.faulty, f)
			res := Check(context.Background(), r, c.from, spf(authres.ResultFail, "x@other.example", ""))
			check(t, res, row{from: c.from, status: verdict.TempError})
			if res.Err == nil {
				t.Errorf("%s with %v at %s: no Err", c.from, f, c.faulty)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Check(ctx, resolvertest.MustNew(zone), "example.com")
	check(t, res, row{from: "example.com", status: verdict.TempError})
}

// TestPolicy runs CASES.md section E.
func TestPolicy(t *testing.T) {
	reject := `_dmarc.example.com. TXT "v=DMARC1; p=reject"`
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	rows := []row{
		{id: "E1", zone: reject, from: "example.com", results: noPass, status: verdict.Fail, policy: Reject},
		{id: "E2", zone: reject, from: "example.com", status: verdict.Pass, results: []verdict.Result{dkim("pass d=example.com")}},
		{id: "E3", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=none"`, from: "sub.example.com", results: noPass,
			status: verdict.Fail, policy: None, reason: "(sp=none)"},
		{id: "E4", zone: `_dmarc.example.com. TXT "v=DMARC1; p=quarantine"`, from: "sub.example.com", results: noPass,
			status: verdict.Fail, policy: Quarantine, reason: "(p=quarantine)"},
		{id: "E5", zone: `_dmarc.sub.example.com. TXT "v=DMARC1; p=reject; sp=none"`, from: "sub.example.com", results: noPass,
			status: verdict.Fail, policy: Reject, reason: "(p=reject)"},
		{id: "E6", zone: `_dmarc.example.com. TXT "v=DMARC1; p=none"`, from: "example.com", results: noPass, status: verdict.Fail, policy: None},
		// RFC 9989 removed pct=: ignored, p=reject applies (TestPct has
		// RFC 7489's sampling).
		{id: "E7", zone: `_dmarc.example.com. TXT "v=DMARC1; p=reject; pct=0"`, from: "example.com", results: noPass,
			status: verdict.Fail, policy: Reject, reason: "(p=reject)"},
		{id: "E8", zone: `_dmarc.example.com. TXT "v=DMARC1; p=quarantine; pct=100"`, from: "example.com", results: noPass,
			status: verdict.Fail, policy: Quarantine},
		{id: "E9", zone: reject, from: "example.com", status: verdict.TempError, reason: "aligned SPF (example.com) temperror",
			results: []verdict.Result{spf(authres.ResultTempError, "x@example.com", "")}},
		{id: "E10", zone: reject, from: "example.com", status: verdict.TempError, reason: "aligned DKIM (example.com) temperror",
			results: []verdict.Result{dkim("temperror d=example.com")}},
		{id: "E11", zone: reject, from: "example.com", status: verdict.Pass,
			results: []verdict.Result{spf(authres.ResultTempError, "x@example.com", ""), dkim("pass d=example.com")}},
		{id: "E12", zone: `_dmarc.strict.example. TXT "v=DMARC1; p=reject; adkim=s; aspf=s"`, from: "strict.example", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{spf(authres.ResultPass, "x@sub.strict.example", ""), dkim("pass d=sub.strict.example")}},
		{id: "temperror of an unaligned identity", zone: reject, from: "example.com", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{spf(authres.ResultTempError, "x@example.net", ""), dkim("temperror d=example.org")}},
		{id: "aligned temperror beside an aligned fail", zone: reject, from: "example.com", status: verdict.TempError,
			results: []verdict.Result{spf(authres.ResultFail, "x@example.com", ""), dkim("temperror d=mail.example.com")}},
		{id: "no results at all", zone: reject, from: "example.com", status: verdict.Fail, policy: Reject},
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.id)
	}
	run(t, rows, nil)
	covered(t, "E", ids)
}

// TestNP: np= (RFC 9091) applies to From domains that do not exist, below
// an organizational domain whose record has it.
func TestNP(t *testing.T) {
	zone := `
_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine; np=none"
mx.example.com.     A   192.0.2.1
mail.example.com.   MX  10 mx.example.com.
web.example.com.    AAAA 2001:db8::1
ent.deep.example.com. A 192.0.2.2
_dmarc.nonp.example.com. TXT "v=DMARC1; p=reject; np=none"
_dmarc.nosp.example. TXT "v=DMARC1; p=reject; np=quarantine"
_dmarc.badnp.example. TXT "v=DMARC1; p=reject; np=bogus"
`
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	rows := []row{
		{id: "NXDOMAIN", zone: zone, from: "gone.example.com", results: noPass, status: verdict.Fail, policy: None, reason: "(np=none)"},
		{id: "empty non-terminal (NODATA)", zone: zone, from: "deep.example.com", results: noPass, status: verdict.Fail, policy: None, reason: "(np=none)"},
		{id: "exists with A", zone: zone, from: "mx.example.com", results: noPass, status: verdict.Fail, policy: Quarantine, reason: "(sp=quarantine)"},
		{id: "exists with MX", zone: zone, from: "mail.example.com", results: noPass, status: verdict.Fail, policy: Quarantine},
		{id: "exists with AAAA", zone: zone, from: "web.example.com", results: noPass, status: verdict.Fail, policy: Quarantine},
		{id: "not for the organizational domain itself", zone: zone, from: "example.com", results: noPass, status: verdict.Fail, policy: Reject},
		{id: "not for a record at the From name", zone: zone, from: "nonp.example.com", results: noPass, status: verdict.Fail, policy: Reject},
		{id: "np without sp", zone: zone, from: "gone.nosp.example", results: noPass, status: verdict.Fail, policy: Quarantine, reason: "(np=quarantine)"},
		{id: "existing domain without sp gets p", zone: zone + "here.nosp.example. A 192.0.2.3\n", from: "here.nosp.example", results: noPass,
			status: verdict.Fail, policy: Reject, reason: "(p=reject)"},
		// RFC 9989 §4.10.1: an invalid np= without rua= means no policy
		// (RFC 9091 ignored it: TestPct's RFC 7489 rows).
		{id: "invalid np", zone: zone, from: "gone.badnp.example", results: noPass, status: verdict.None, reason: "no valid p="},
		{id: "pass needs no existence lookup", zone: zone, from: "gone.example.com", status: verdict.Pass, results: []verdict.Result{dkim("pass d=example.com")}},
	}
	run(t, rows, nil)
}

// TestPct: pct= sampling with the injected random source (F12 of
// anchor-cases.md: pct=50, coin 73, reject becomes quarantine).
func TestPct(t *testing.T) {
	noPass := []verdict.Result{spf(authres.ResultFail, "x@other.example", "")}
	for _, c := range []struct {
		record string
		coin   int
		want   Disposition
		drawn  bool // whether Random is called
		out    bool // whether the message is sampled out
	}{
		{"p=reject; pct=50", 73, Quarantine, true, true},
		{"p=reject; pct=50", 50, Quarantine, true, true},
		{"p=reject; pct=50", 49, Reject, true, false},
		{"p=reject; pct=50", 0, Reject, true, false},
		{"p=quarantine; pct=50", 73, None, true, true},
		{"p=quarantine; pct=50", 10, Quarantine, true, false},
		{"p=reject; pct=0", 0, Quarantine, true, true},
		{"p=reject; pct=100", 99, Reject, false, false},
		{"p=reject", 99, Reject, false, false},
		{"p=none; pct=10", 99, None, false, false},
		{"p=reject; sp=quarantine; pct=10", 99, None, true, true}, // for sub.example.com: sp, then sampled out
	} {
		from := "example.com"
		if strings.Contains(c.record, "sp=") {
			from = "sub.example.com"
		}
		drawn := 0
		o := &Options{PublicSuffixList: true, Random: func(n int) int {
			drawn++
			if n != 100 {
				t.Errorf("Random(%d), want Random(100)", n)
			}
			return c.coin
		}}
		r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; ` + c.record + `"`)
		res := New(r, o).Evaluate(context.Background(), from, noPass...)
		check(t, res, row{from: from, status: verdict.Fail, policy: c.want})
		if c.drawn != (drawn == 1) || drawn > 1 {
			t.Errorf("%s: Random called %d times", c.record, drawn)
		}
		if out := strings.Contains(res.Reason, "sampled out"); out != c.out {
			t.Errorf("%s, coin %d: reason %q", c.record, c.coin, res.Reason)
		}
	}

	// The default source samples about pct percent.
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject; pct=30"`)
	c := New(r, &Options{PublicSuffixList: true})
	rejected := 0
	for range 1000 {
		if c.Evaluate(context.Background(), "example.com", noPass...).Action == verdict.Reject {
			rejected++
		}
	}
	if rejected < 200 || rejected > 400 {
		t.Errorf("pct=30: %d of 1000 rejected", rejected)
	}
}

func TestOverride(t *testing.T) {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.lists.example. TXT "v=DMARC1; p=reject"`)
	o := &Options{Override: func(from string, p Disposition) Disposition {
		if from == "lists.example" && p == Reject {
			return Quarantine
		}
		if from == "example.com" {
			return "bogus" // ignored
		}
		return p
	}}
	noPass := spf(authres.ResultFail, "x@other.example", "")
	res := New(r, o).Evaluate(context.Background(), "lists.example", noPass)
	check(t, res, row{from: "lists.example", status: verdict.Fail, policy: Quarantine, reason: "(p=reject, local policy)"})
	res = New(r, o).Evaluate(context.Background(), "example.com", noPass)
	check(t, res, row{from: "example.com", status: verdict.Fail, policy: Reject, reason: "(p=reject)"})
}

// TestMox runs CASES.md section F (mox's dmarc_test.go, restated).
func TestMox(t *testing.T) {
	zone := `
_dmarc.reject.example.    TXT "v=DMARC1; p=reject"
_dmarc.strict.example.    TXT "v=DMARC1; p=reject; adkim=s; aspf=s"
_dmarc.test.example.      TXT "v=DMARC1; p=reject; pct=0"
_dmarc.subnone.example.   TXT "v=DMARC1; p=reject; sp=none"
_dmarc.none.example.      TXT "v=DMARC1; p=none"
_dmarc.malformed.example. TXT "v=DMARC1; p=none; bogus"
_dmarc.example.com.       TXT "v=DMARC1; p=reject"
_dmarc.simple.example.    TXT "v=DMARC1; p=none"
_dmarc.one.example.       TXT "other"
_dmarc.one.example.       TXT "v=DMARC1; p=none"
_dmarc.multiple.example.  TXT "v=DMARC1; p=none"
_dmarc.multiple.example.  TXT "v=DMARC1; p=none"
_dmarc.temperror.example. TXT "v=DMARC1; p=reject"
`
	rows := []row{
		{id: "reject", from: "reject.example", status: verdict.Fail, policy: Reject},
		{id: "SPF aligned relaxed", from: "reject.example", status: verdict.Pass,
			results: []verdict.Result{spf(authres.ResultPass, "x@sub.reject.example", "")}},
		{id: "DKIM aligned relaxed", from: "reject.example", status: verdict.Pass,
			results: []verdict.Result{dkim("pass d=sub.reject.example"), spf(authres.ResultFail, "x@reject.example", "")}},
		{id: "strict", from: "strict.example", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{dkim("pass d=sub.strict.example"), spf(authres.ResultPass, "x@sub.strict.example", "")}},
		{id: "absent", from: "absent.example", status: verdict.None,
			results: []verdict.Result{spf(authres.ResultPass, "x@absent.example", "")}},
		{id: "none", from: "none.example", status: verdict.Pass,
			results: []verdict.Result{spf(authres.ResultPass, "x@none.example", "")}},
		// mox: reject flag set but not used; RFC 7489 §6.6.4: the next
		// less strict policy.
		{id: "pct=0", from: "test.example", status: verdict.Fail, policy: Quarantine},
		{id: "sp=none from the organizational domain", from: "sub.subnone.example", status: verdict.Fail, policy: None,
			results: []verdict.Result{spf(authres.ResultFail, "x@sub.subnone.example", "")}},
		{id: "SPF temperror", from: "reject.example", status: verdict.TempError,
			results: []verdict.Result{spf(authres.ResultTempError, "x@reject.example", "")}},
		{id: "DKIM temperror", from: "reject.example", status: verdict.TempError,
			results: []verdict.Result{dkim("temperror d=sub.reject.example")}},
		{id: "DKIM pass, SPF temperror", from: "reject.example", status: verdict.Pass,
			results: []verdict.Result{dkim("pass d=sub.reject.example"), spf(authres.ResultTempError, "x@reject.example", "")}},
		{id: "DKIM temperror, SPF pass", from: "reject.example", status: verdict.Pass,
			results: []verdict.Result{dkim("temperror d=reject.example"), spf(authres.ResultPass, "x@mail.reject.example", "")}},
		// mox: permerror. RFC 7489 §6.3: the bad part is ignored, so
		// the record's p=none applies.
		{id: "malformed", from: "malformed.example", status: verdict.Fail, policy: None},
		{id: "d=com", from: "example.com", status: verdict.Fail, policy: Reject,
			results: []verdict.Result{dkim("pass d=com")}},
		{id: "lookup simple", from: "simple.example", status: verdict.Fail, policy: None},
		{id: "lookup one", from: "one.example", status: verdict.Fail, policy: None},
		{id: "lookup multiple", from: "multiple.example", status: verdict.None},
		{id: "lookup sub", from: "sub.example.com", status: verdict.Fail, policy: Reject},
	}
	for i := range rows {
		rows[i].zone = zone
	}
	// mox implements RFC 7489, with the public suffix list.
	run(t, rows, &Options{PublicSuffixList: true, Random: coin(0)})

	r := resolvertest.MustNew(zone)
	r.SetFault("_dmarc.temperror.example", resolvertest.ServFail)
	check(t, Check(context.Background(), r, "temperror.example"), row{from: "temperror.example", status: verdict.TempError})
}

func TestScores(t *testing.T) {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject"
_dmarc.q.example. TXT "v=DMARC1; p=quarantine"
_dmarc.n.example. TXT "v=DMARC1; p=none"
_dmarc.bad.example. TXT "v=DMARC1; p=reject; pct=x"`)
	r.SetFault("_dmarc.dns.example", resolvertest.ServFail)
	sc := &Scores{Pass: -7, Reject: 7, Quarantine: 6, Monitor: 5, None: 4, TempError: 3, PermError: 2, BadFrom: 1}
	c := New(r, &Options{Scores: sc})
	noPass := spf(authres.ResultFail, "x@other.example", "")
	for from, want := range map[string]float64{"example.com": 7, "q.example": 6, "n.example": 5, "absent.example": 4, "dns.example": 3, "exa mple": 2} {
		if got := c.Evaluate(context.Background(), from, noPass).Score; got != want {
			t.Errorf("%s: Score %v, want %v", from, got, want)
		}
	}
	if got := c.Evaluate(context.Background(), "example.com", dkim("pass d=example.com")).Score; got != -7 {
		t.Errorf("pass: Score %v, want -7", got)
	}
	if got := c.Check(context.Background(), &verdict.Session{Message: []byte("Subject: x\r\n\r\n")}).Score; got != 1 {
		t.Errorf("no From: Score %v, want 1", got)
	}
	if got := c.Check(context.Background(), &verdict.Session{Message: []byte("From: a@example.com\r\nFrom: a@example.com\r\n\r\n")}).Score; got != 7+1 {
		t.Errorf("two From fields: Score %v, want 8", got)
	}
}

func TestChecker(t *testing.T) {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject"`)
	c := New(r, nil)
	if c.Name() != "dmarc" || c.Stage() != verdict.Data {
		t.Errorf("Name, Stage = %q, %v; want dmarc, data", c.Name(), c.Stage())
	}
	var _ verdict.Check = c
	msg := []byte("From: Alice <alice@Example.com>\r\nSubject: hi\r\n\r\nbody\r\n")

	for _, x := range []struct {
		name    string
		results []verdict.Result
		message []byte
		status  verdict.Status
		action  verdict.Action
	}{
		{"dkim pass", []verdict.Result{spf(authres.ResultFail, "x@other.example", ""), dkim("pass d=example.com")}, msg, verdict.Pass, verdict.Accept},
		{"spf pass", []verdict.Result{spf(authres.ResultPass, "x@example.com", ""), dkim("fail d=example.com")}, msg, verdict.Pass, verdict.Accept},
		{"latest results count", []verdict.Result{dkim("pass d=example.com"), dkim("fail d=example.com")}, msg, verdict.Fail, verdict.Reject},
		{"other checks ignored", []verdict.Result{{Check: "other", Auth: dkim("pass d=example.com").Auth}}, msg, verdict.Fail, verdict.Reject},
		{"nothing", nil, msg, verdict.Fail, verdict.Reject},
		// Every author domain is evaluated now (was PermError, which
		// let a second From field escape the policy).
		{"two From fields", nil, []byte("From: a@example.com\r\nFrom: b@example.com\r\n\r\n"), verdict.Fail, verdict.Reject},
		// No author domain at all: refused (was PermError and accepted).
		{"no message", nil, nil, verdict.PermError, verdict.Reject},
	} {
		s := &verdict.Session{Message: x.message, Results: x.results}
		res := c.Check(context.Background(), s)
		if res.Status != x.status || res.Action != x.action || res.Check != "dmarc" {
			t.Errorf("%s: %q %v %v, want dmarc %v %v (%s)", x.name, res.Check, res.Status, res.Action, x.status, x.action, res.Reason)
		}
		if x.status == verdict.PermError && (res.Score != DefaultScores.BadFrom || res.Err == nil || len(res.Auth) != 1 || res.Code != 550 || res.Enhanced != "5.7.26") {
			t.Errorf("%s: Score %v, Err %v, Auth %v", x.name, res.Score, res.Err, res.Auth)
		}
	}

	// In a policy, after spf and dkim results of earlier stages.
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	s := &verdict.Session{Message: msg, Results: []verdict.Result{spf(authres.ResultPass, "x@other.example", ""), dkim("fail d=example.com")}}
	d := p.Evaluate(context.Background(), s, verdict.Data)
	if d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.7.26" {
		t.Errorf("decision %v, want 550 5.7.26", d)
	}
	if ar := d.AuthenticationResults("mx.example.net"); !strings.Contains(ar, "dmarc=fail") || !strings.Contains(ar, "header.from=example.com") {
		t.Errorf("Authentication-Results %q", ar)
	}
}
