package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

const testZone = `
$ORIGIN example.org.
@          TXT  "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
soft       TXT  "v=spf1 ip4:192.0.2.1 ~all"
neutral    TXT  "v=spf1 ?all"
empty      TXT  "v=spf1"
norecord   TXT  "just some text"
mx         A    192.0.2.25
helo       TXT  "v=spf1 a -all"
helo       A    198.51.100.7
broken     TXT  "v=spf1 ip4:192.0.2.1 +all bogus"
late       TXT  "v=spf1 ip4:192.0.2.1 -all exp=why.example.org exp=why.example.org"
inc        TXT  "v=spf1 include:broken.example.org -all"
dnsfail    TXT  "v=spf1 a:down.example.org -all"
exp        TXT  "v=spf1 ip4:192.0.2.1 -all exp=why.example.org"
why        TXT  "%{i} may not send mail for %{d} (%{l})"
expgone    TXT  "v=spf1 -all exp=nowhere.example.org"
expbad     TXT  "v=spf1 -all exp=down.example.org"
exptwo     TXT  "v=spf1 -all exp=two.example.org"
two        TXT  "first"
two        TXT  "second"
redir      TXT  "v=spf1 exp=why.example.org redirect=target.example.org"
target     TXT  "v=spf1 ip4:192.0.2.1 -all exp=target-why.example.org"
target-why TXT  "target says no to %{i}"
incexp     TXT  "v=spf1 include:exp.example.org -all exp=incexp-why.example.org"
incexp-why TXT  "the includer says no"
`

func newZone(t testing.TB) *resolvertest.Resolver {
	t.Helper()
	r := resolvertest.MustNew(testZone)
	r.SetFault("down.example.org", resolvertest.ServFail)
	r.SetTimeoutAfter(20 * time.Millisecond)
	return r
}

var (
	inside  = netip.MustParseAddr("192.0.2.1")
	outside = netip.MustParseAddr("203.0.113.9")
)

func TestCheck(t *testing.T) {
	r := newZone(t)
	tests := []struct {
		name       string
		ip         netip.Addr
		helo, from string
		status     verdict.Status
		score      float64
		domain     string
		reason     string // a part of the reason
	}{
		{"pass", inside, "mx.example.org", "a@example.org", verdict.Pass, DefaultScores.Pass, "example.org", "example.org designates 192.0.2.1 as permitted sender"},
		{"pass ip6", netip.MustParseAddr("2001:db8::1"), "mx.example.org", "a@example.org", verdict.Pass, DefaultScores.Pass, "example.org", "designates 2001:db8::1"},
		{"pass ip4-mapped", netip.MustParseAddr("::ffff:192.0.2.1"), "mx.example.org", "a@example.org", verdict.Pass, DefaultScores.Pass, "example.org", "designates 192.0.2.1"},
		{"fail", outside, "mx.example.org", "a@example.org", verdict.Fail, DefaultScores.Fail, "example.org", "example.org does not designate 203.0.113.9 as permitted sender"},
		{"softfail", outside, "mx.example.org", "a@soft.example.org", verdict.SoftFail, DefaultScores.SoftFail, "soft.example.org", "(softfail)"},
		{"neutral", outside, "mx.example.org", "a@neutral.example.org", verdict.Neutral, DefaultScores.Neutral, "neutral.example.org", "neither permits nor denies"},
		{"empty record", outside, "mx.example.org", "a@empty.example.org", verdict.Neutral, DefaultScores.Neutral, "empty.example.org", ""},
		{"no record", outside, "mx.example.org", "a@norecord.example.org", verdict.None, DefaultScores.None, "norecord.example.org", "publishes no SPF record"},
		{"nxdomain", outside, "mx.example.org", "a@nowhere.example.org", verdict.None, DefaultScores.None, "nowhere.example.org", "publishes no SPF record"},
		{"case and dot", inside, "mx.example.org", "a@EXAMPLE.org.", verdict.Pass, DefaultScores.Pass, "example.org", ""},
		{"angle brackets", inside, "mx.example.org", "<a@example.org>", verdict.Pass, DefaultScores.Pass, "example.org", ""},
		{"temperror", outside, "mx.example.org", "a@dnsfail.example.org", verdict.TempError, DefaultScores.TempError, "dnsfail.example.org", "DNS failure"},
		{"temperror top", outside, "mx.example.org", "a@down.example.org", verdict.TempError, DefaultScores.TempError, "down.example.org", "DNS failure"},
		{"permerror", outside, "mx.example.org", "a@broken.example.org", verdict.PermError, DefaultScores.PermError, "broken.example.org", "unknown mechanism"},
		// §4.6: a syntax error anywhere is permerror, even after a
		// matching mechanism (the library alone would say pass here).
		{"permerror after match", inside, "mx.example.org", "a@broken.example.org", verdict.PermError, DefaultScores.PermError, "broken.example.org", "unusable SPF record"},
		{"permerror twice exp", inside, "mx.example.org", "a@late.example.org", verdict.PermError, DefaultScores.PermError, "late.example.org", "exp= given twice"},
		{"permerror in include", inside, "mx.example.org", "a@inc.example.org", verdict.PermError, DefaultScores.PermError, "inc.example.org", ""},
		// §2.4: the null sender is checked as postmaster@HELO.
		{"null sender", netip.MustParseAddr("198.51.100.7"), "helo.example.org", "", verdict.Pass, DefaultScores.Pass, "helo.example.org", ""},
		{"null sender fail", outside, "helo.example.org", "", verdict.Fail, DefaultScores.Fail, "helo.example.org", ""},
		// §4.3: malformed domains give none without a lookup.
		{"single label", inside, "localhost", "", verdict.None, DefaultScores.None, "", "no domain to check"},
		{"address literal", inside, "[192.0.2.1]", "", verdict.None, DefaultScores.None, "", "no domain to check"},
		{"empty label", inside, "mx.example.org", "a@a..example.org", verdict.None, DefaultScores.None, "", ""},
		{"long label", inside, "mx.example.org", "a@" + strings.Repeat("x", 64) + ".example.org", verdict.None, DefaultScores.None, "", ""},
		{"helo with @", inside, "a@example.org", "", verdict.None, DefaultScores.None, "", "no domain to check"},
		// The domain is after the last "@" of the sender.
		{"quoted local part", inside, "mx.example.org", `"a@nowhere.example.org"@example.org`, verdict.Pass, DefaultScores.Pass, "example.org", ""},
		{"no client address", netip.Addr{}, "mx.example.org", "a@example.org", verdict.None, 0, "", "no client address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(context.Background(), r, tt.ip, tt.helo, tt.from)
			if res.Check != Name || res.Status != tt.status || res.Score != tt.score || res.Domain != tt.domain {
				t.Errorf("got check %q status %v score %v domain %q; want spf %v %v %q (reason %q, err %v)",
					res.Check, res.Status, res.Score, res.Domain, tt.status, tt.score, tt.domain, res.Reason, res.Err)
			}
			if !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", res.Reason, tt.reason)
			}
			if res.Action != verdict.Accept {
				t.Errorf("action %v by default, want accept", res.Action)
			}
			if (res.Status == verdict.TempError || res.Status == verdict.PermError) != (res.Err != nil) {
				t.Errorf("status %v with err %v", res.Status, res.Err)
			}
			if len(res.Auth) != 1 {
				t.Fatalf("auth %v, want one SPF result", res.Auth)
			}
			a, ok := res.Auth[0].(*authres.SPFResult)
			wantFrom := strings.Trim(tt.from, "<>")
			if wantFrom == "" {
				wantFrom = "postmaster@" + tt.helo
			}
			if !ok || string(a.Value) != tt.status.String() || a.From != wantFrom || a.Helo != tt.helo {
				t.Errorf("auth %+v, want %v from %q helo %q", res.Auth[0], tt.status, wantFrom, tt.helo)
			}
		})
	}
}

// A malformed domain is not looked up at all.
func TestCheckNoLookupForMalformedDomain(t *testing.T) {
	r := newZone(t)
	for _, helo := range []string{"localhost", "[192.0.2.1]", "a..b.example", "-x.example.org"} {
		r.ResetQueries()
		if res := Check(context.Background(), r, inside, helo, ""); res.Status != verdict.None {
			t.Errorf("%q: status %v, want none", helo, res.Status)
		}
		if n := r.TotalQueries(); n != 0 {
			t.Errorf("%q: %d queries, want none", helo, n)
		}
	}
}

func TestCheckHelo(t *testing.T) {
	r := newZone(t)
	res := CheckHelo(context.Background(), r, netip.MustParseAddr("198.51.100.7"), "helo.example.org")
	if res.Status != verdict.Pass || res.Domain != "helo.example.org" {
		t.Errorf("got %v for %q, want pass", res.Status, res.Domain)
	}
	a := res.Auth[0].(*authres.SPFResult)
	if a.From != "" || a.Helo != "helo.example.org" {
		t.Errorf("auth %+v: want only helo", a)
	}
	if res := CheckHelo(context.Background(), r, inside, "[192.0.2.1]"); res.Status != verdict.None {
		t.Errorf("address literal HELO: %v, want none", res.Status)
	}
}

func TestExplanation(t *testing.T) {
	r := newZone(t)
	tests := []struct {
		from   string
		status verdict.Status
		reason string
	}{
		// §6.2: a fail carries the macro-expanded text of exp=.
		{"joe@exp.example.org", verdict.Fail, "exp.example.org explains: 203.0.113.9 may not send mail for exp.example.org (joe)"},
		// No local-part: postmaster (§4.3).
		{"@exp.example.org", verdict.Fail, "exp.example.org explains: 203.0.113.9 may not send mail for exp.example.org (postmaster)"},
		// The explanation never changes the result: no record, a DNS
		// failure or two records all leave the plain fail.
		{"joe@expgone.example.org", verdict.Fail, "expgone.example.org does not designate 203.0.113.9 as permitted sender"},
		{"joe@expbad.example.org", verdict.Fail, "expbad.example.org does not designate"},
		{"joe@exptwo.example.org", verdict.Fail, "exptwo.example.org does not designate"},
		// After redirect= the target's exp= applies, not the original's.
		{"joe@redir.example.org", verdict.Fail, "redir.example.org explains: target says no to 203.0.113.9"},
		// An included record's exp= is never used: the including
		// record's -all decided.
		{"joe@incexp.example.org", verdict.Fail, "incexp.example.org explains: the includer says no"},
	}
	for _, tt := range tests {
		res := Check(context.Background(), r, outside, "mx.example.org", tt.from)
		if res.Status != tt.status || !strings.HasPrefix(res.Reason, tt.reason) {
			t.Errorf("%s: got %v %q, want %v %q", tt.from, res.Status, res.Reason, tt.status, tt.reason)
		}
	}
}

func TestExplanationMacros(t *testing.T) {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@    TXT "v=spf1 -all exp=why.%{d}"
why  TXT "%{c} %{r} %{t} %{s} %{h} %{L}%_%%%- %{p}"
ctrl TXT "v=spf1 -all exp=why.example.org"
long TXT "v=spf1 -all exp=longwhy.example.org"
longwhy TXT "` + strings.Repeat("%{s}", 100) + `"
`)
	c := New(r, &Options{Receiver: "mx.example.net", Now: func() time.Time { return time.Unix(1700000000, 0) }})
	res := c.Evaluate(context.Background(), netip.MustParseAddr("2001:db8::1"), "client.example", "j&j@example.org")
	want := "example.org explains: 2001:db8::1 mx.example.net 1700000000 j&j@example.org client.example j%26j %%20 unknown"
	if res.Reason != want {
		t.Errorf("reason\n%q, want\n%q", res.Reason, want)
	}
	// Client text in an explanation cannot break the reply.
	res = c.Evaluate(context.Background(), outside, "client.example", "a\r\nb\x00@ctrl.example.org")
	if strings.ContainsAny(res.Reason, "\r\n\x00") || res.Status != verdict.Fail {
		t.Errorf("reason %q", res.Reason)
	}
	res = c.Evaluate(context.Background(), outside, "client.example", strings.Repeat("x", 60)+"@long.example.org")
	if len(res.Reason) > verdict.MaxReason || !strings.HasSuffix(res.Reason, "...") {
		t.Errorf("long explanation: %d bytes: %q", len(res.Reason), res.Reason)
	}
}

func TestOptions(t *testing.T) {
	r := newZone(t)
	ctx := context.Background()
	rej := New(r, &Options{Reject: true, Defer: true, Scores: &Scores{Fail: 9, TempError: 0.1}})
	res := rej.Evaluate(ctx, outside, "mx.example.org", "joe@exp.example.org")
	if res.Action != verdict.Reject || res.Code != 550 || res.Enhanced != "5.7.23" || res.Score != 9 {
		t.Errorf("fail with Reject: %+v", res)
	}
	res = rej.Evaluate(ctx, outside, "mx.example.org", "a@dnsfail.example.org")
	if res.Action != verdict.TempFail || res.Code != 451 || res.Enhanced != "4.4.3" || res.Score != 0.1 {
		t.Errorf("temperror with Defer: %+v", res)
	}
	// Other results demand nothing whatever the options.
	for _, from := range []string{"a@soft.example.org", "a@broken.example.org", "a@norecord.example.org"} {
		if res := rej.Evaluate(ctx, outside, "mx.example.org", from); res.Action != verdict.Accept {
			t.Errorf("%s: action %v", from, res.Action)
		}
	}
	// The demand reaches the SMTP reply with the domain's explanation.
	p := &verdict.Policy{Checks: []verdict.Check{rej}}
	s := &verdict.Session{IP: outside, HELO: "mx.example.org", MailFrom: "joe@exp.example.org"}
	d := p.Evaluate(ctx, s, verdict.Mail)
	if d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.7.23" || !strings.Contains(d.Message, "may not send mail") {
		t.Errorf("decision %+v", d)
	}
}

// DNS failures are never evidence: whatever form the resolver's error
// takes, it is a temperror, never a permerror, and never a rejection.
func TestDNSFailures(t *testing.T) {
	ctx := context.Background()
	for _, f := range []resolvertest.Fault{resolvertest.ServFail, resolvertest.Refused, resolvertest.Timeout} {
		r := newZone(t)
		r.SetFault("example.org", f)
		res := New(r, &Options{Reject: true}).Evaluate(ctx, outside, "mx.example.org", "a@example.org")
		if res.Status != verdict.TempError || res.Action == verdict.Reject || res.Err == nil {
			t.Errorf("%v: %v %v %v", f, res.Status, res.Action, res.Err)
		}
	}
	for name, err := range map[string]error{
		"wrapped timeout": fmt.Errorf("resolving: %w", &net.DNSError{Err: "i/o timeout", IsTimeout: true}),
		"plain error":     errors.New("connection refused"),
		"deadline":        context.DeadlineExceeded,
		"not temporary":   &net.DNSError{Err: "cannot unmarshal DNS message"},
	} {
		res := Check(ctx, errResolver{err}, outside, "mx.example.org", "a@example.org")
		if res.Status != verdict.TempError {
			t.Errorf("%s: %v (%v), want temperror", name, res.Status, res.Err)
		}
	}
	// A wrapped not-found is still an answer.
	nf := fmt.Errorf("x: %w", &net.DNSError{Err: "no such host", IsNotFound: true})
	if res := Check(ctx, errResolver{nf}, outside, "mx.example.org", "a@example.org"); res.Status != verdict.None {
		t.Errorf("wrapped not-found: %v, want none", res.Status)
	}
}

// errResolver fails every lookup with err.
type errResolver struct{ err error }

func (e errResolver) LookupTXT(context.Context, string) ([]string, error) { return nil, e.err }
func (e errResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, e.err }
func (e errResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, e.err
}
func (e errResolver) LookupAddr(context.Context, string) ([]string, error) { return nil, e.err }

func TestContext(t *testing.T) {
	r := newZone(t)
	r.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Check(ctx, r, inside, "mx.example.org", "a@example.org")
	if res.Status != verdict.TempError || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v, want a prompt temperror", res.Status, time.Since(start))
	}
}

// net leaves out PTR names that are not host names and returns the others
// with an error; the ptr mechanism must still use those others.
func TestPTRWithInvalidNames(t *testing.T) {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@     TXT "v=spf1 ptr -all"
mail  A   192.0.2.1
1.2.0.192.in-addr.arpa. PTR bad!name.example.org.
1.2.0.192.in-addr.arpa. PTR mail.example.org.
`)
	if res := Check(context.Background(), r, inside, "mail.example.org", "a@example.org"); res.Status != verdict.Pass {
		t.Errorf("got %v (%s), want pass", res.Status, res.Reason)
	}
}

// %{p} is the validated name of the client, preferring one under the
// domain, in mechanisms as in explanations (RFC 7208 §7.3).
func TestPMacro(t *testing.T) {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@                       TXT "v=spf1 exists:%{p}.ok.example.org -all exp=why.example.org"
why                     TXT "from %{p}"
mail                    A   192.0.2.1
mail.example.net.       A   192.0.2.1
mail.example.org.ok     A   127.0.0.2
1.2.0.192.in-addr.arpa. PTR mail.example.net.
1.2.0.192.in-addr.arpa. PTR mail.example.org.
9.2.0.192.in-addr.arpa. PTR mail.example.org.
`)
	if res := Check(context.Background(), r, inside, "x.example", "a@example.org"); res.Status != verdict.Pass {
		t.Errorf("got %v (%s), want pass", res.Status, res.Reason)
	}
	// 192.0.2.9's PTR name does not resolve back to it: "unknown".
	res := Check(context.Background(), r, netip.MustParseAddr("192.0.2.9"), "x.example", "a@example.org")
	if res.Status != verdict.Fail || res.Reason != "example.org explains: from unknown" {
		t.Errorf("got %v %q", res.Status, res.Reason)
	}
}

func TestChecker(t *testing.T) {
	r := newZone(t)
	c := New(r, nil)
	if c.Name() != "spf" || c.Stage() != verdict.Mail {
		t.Errorf("name %q stage %v", c.Name(), c.Stage())
	}
	var _ verdict.Check = c
	s := &verdict.Session{IP: inside, HELO: "mx.example.org", MailFrom: "a@example.org"}
	if res := c.Check(context.Background(), s); res.Status != verdict.Pass {
		t.Errorf("got %v", res.Status)
	}
}

// The ten-lookup limit of §4.6.4 holds through our resolver.
func TestLookupLimit(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("$ORIGIN example.org.\n@ TXT \"v=spf1")
	for i := range 11 {
		fmt.Fprintf(&zone, " a:h%d.example.org", i)
	}
	zone.WriteString(" -all\"\n")
	for i := range 11 {
		fmt.Fprintf(&zone, "h%d A 198.51.100.1\n", i)
	}
	r := resolvertest.MustNew(zone.String())
	res := Check(context.Background(), r, outside, "mx.example.org", "a@example.org")
	if res.Status != verdict.PermError {
		t.Errorf("got %v, want permerror", res.Status)
	}
	if n := r.Queries("h10.example.org", dns.TypeA); n != 0 {
		t.Errorf("the eleventh lookup was made")
	}
}

// TestAddressFamilyFailure: a failed query for the client's address family
// is a temperror (RFC 7208 §5), even when the other family answers.
func TestAddressFamilyFailure(t *testing.T) {
	zone := `$ORIGIN example.org.
@       TXT  "v=spf1 a:mail.example.org -all"
ex      TXT  "v=spf1 exists:mail.example.org -all"
mail    A    192.0.2.10
mail    AAAA 2001:db8:25::10
`
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		fault  uint16 // the type that SERVFAILs
		ip     string
		domain string
		want   verdict.Status
	}{
		{"A fails, IPv4 client", dns.TypeA, "192.0.2.10", "example.org", verdict.TempError},
		{"AAAA fails, IPv4 client", dns.TypeAAAA, "192.0.2.10", "example.org", verdict.Pass},
		{"AAAA fails, IPv6 client", dns.TypeAAAA, "2001:db8:25::10", "example.org", verdict.TempError},
		{"A fails, IPv6 client", dns.TypeA, "2001:db8:25::10", "example.org", verdict.TempError}, // exists would need the A answer
		{"exists asks A, IPv6 client", 0, "2001:db8:25::99", "ex.example.org", verdict.Pass},
		{"exists, A fails, IPv6 client", dns.TypeA, "2001:db8:25::99", "ex.example.org", verdict.TempError},
	} {
		r := resolvertest.MustNew(zone)
		if c.fault != 0 {
			r.SetFaultType("mail.example.org", c.fault, resolvertest.ServFail)
		}
		res := Check(ctx, r, netip.MustParseAddr(c.ip), "mail.example.org", "a@"+c.domain)
		if res.Status != c.want {
			t.Errorf("%s: %v (%s), want %v", c.name, res.Status, res.Reason, c.want)
		}
	}
}

// inflight counts the TXT lookups running at once.
type inflight struct {
	Resolver
	mu       sync.Mutex
	now, max int
}

func (r *inflight) LookupTXT(ctx context.Context, name string) ([]string, error) {
	r.mu.Lock()
	r.now++
	r.max = max(r.max, r.now)
	r.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	defer func() { r.mu.Lock(); r.now--; r.mu.Unlock() }()
	return r.Resolver.LookupTXT(ctx, name)
}

// TestIncludesFetchedTogether: the TXT records of a record's includes are
// asked for together, not one after the other, and the result is the same.
func TestIncludesFetchedTogether(t *testing.T) {
	r := &inflight{Resolver: resolvertest.MustNew(`$ORIGIN example.org.
@     TXT "v=spf1 include:_a.example.org include:_b.example.org redirect=_c.example.org"
_a    TXT "v=spf1 ip4:198.51.100.0/24 -all"
_b    TXT "v=spf1 ip4:192.0.2.0/24 -all"
_c    TXT "v=spf1 -all"
`)}
	res := Check(context.Background(), r, netip.MustParseAddr("192.0.2.10"), "mail.example.org", "a@example.org")
	if res.Status != verdict.Pass {
		t.Errorf("%v: %s", res.Status, res.Reason)
	}
	if r.max < 3 {
		t.Errorf("at most %d TXT lookups at once; the two includes and the redirect should go together", r.max)
	}
}

// TestNewCopies: a Checker keeps the options and scores it was made with.
func TestNewCopies(t *testing.T) {
	r := newZone(t)
	sc := Scores{Fail: 7}
	o := &Options{Scores: &sc, Reject: true}
	c := New(r, o)
	d := New(r, nil)
	saved := DefaultScores
	defer func() { DefaultScores = saved }()
	sc.Fail, o.Reject, DefaultScores.Fail = 1, false, 9
	if res := c.Evaluate(context.Background(), outside, "mx.example.org", "a@example.org"); res.Score != 7 || res.Action != verdict.Reject {
		t.Errorf("options changed after New: score %.1f action %v", res.Score, res.Action)
	}
	if res := d.Evaluate(context.Background(), outside, "mx.example.org", "a@example.org"); res.Score != saved.Fail {
		t.Errorf("DefaultScores changed after New: score %.1f", res.Score)
	}
}

// TestSenderForms: the domain of MAIL FROM is read as SMTP writes it:
// angle brackets, a source route, a quoted local part with an '@', one
// trailing dot; the null sender is postmaster@HELO.
func TestSenderForms(t *testing.T) {
	r := newZone(t)
	for _, from := range []string{"a@example.org", "<a@example.org>", "<@relay.example,@b.example:a@example.org>", `<"x@y"@example.org>`, "a@EXAMPLE.org."} {
		if res := Check(context.Background(), r, inside, "x.example", from); res.Status != verdict.Pass || res.Domain != "example.org" {
			t.Errorf("%q: %v for %q, want pass for example.org", from, res.Status, res.Domain)
		}
	}
	for _, from := range []string{"", "<>"} {
		if res := Check(context.Background(), r, netip.MustParseAddr("198.51.100.7"), "helo.example.org", from); res.Status != verdict.Pass || res.Domain != "helo.example.org" {
			t.Errorf("%q: %v for %q, want pass for the HELO name", from, res.Status, res.Domain)
		}
	}
}
