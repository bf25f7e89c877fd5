package dnsbl_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// Every Resolver the project promises must satisfy the interface.
var (
	_ dnsbl.Resolver = net.DefaultResolver
	_ dnsbl.Resolver = (*resolver.Resolver)(nil)
	_ dnsbl.Resolver = (*resolvertest.Resolver)(nil)
	_ verdict.Check  = (*dnsbl.Checker)(nil)
)

const zones = `
$ORIGIN bl.example.
2.0.0.127        A    127.0.0.2
2.0.0.127        TXT  "RFC 5782 test point"
99.2.0.192       A    127.0.0.2
99.2.0.192       TXT  "see https://bl.example/q/192.0.2.99"
98.2.0.192       A    127.0.0.3
98.2.0.192       TXT  "bad\013\010text\001 here"
b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2 A 127.0.0.2

$ORIGIN zen.example.
2.0.0.127        A    127.0.0.2
99.2.0.192       A    127.0.0.2
99.2.0.192       A    127.0.0.4
99.2.0.192       A    127.0.0.10
97.2.0.192       A    127.0.0.3
97.2.0.192       A    127.0.0.10
96.2.0.192       A    127.0.0.10
95.2.0.192       A    127.255.255.254
94.2.0.192       A    127.255.255.255
93.2.0.192       A    127.255.255.252
92.2.0.192       A    127.0.0.2
92.2.0.192       A    127.255.255.254

$ORIGIN wl.example.
99.2.0.192       A    127.0.15.3
90.2.0.192       A    127.0.15.3
91.2.0.192       A    127.0.0.255

$ORIGIN hijack.example.
*                A    10.0.0.1

$ORIGIN dbl.example.
test             A    127.0.1.2
spam.example.com A    127.0.1.2
phish.example.com A   127.0.1.4
2.0.0.127        A    127.0.1.255
`

var (
	bl     = dnsbl.List{Zone: "bl.example", Score: 3}
	zen    = dnsbl.List{Zone: "zen.example", Score: 1}
	wl     = dnsbl.List{Zone: "wl.example", Score: -0.5, Errors: []netip.Prefix{netip.MustParsePrefix("127.0.0.255/32")}}
	hijack = dnsbl.List{Zone: "hijack.example", Score: 2}
	dbl    = dnsbl.List{Zone: "dbl.example", Score: 4, Errors: []netip.Prefix{netip.MustParsePrefix("127.0.1.255/32")}}
)

func with(l dnsbl.List, f func(*dnsbl.List)) dnsbl.List {
	f(&l)
	return l
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name   string
		ip     string
		lists  []dnsbl.List
		faults map[string]resolvertest.Fault
		status verdict.Status
		score  float64
		reason string // substring
		err    error  // errors.Is target, when not nil
	}{
		{"C1 listed", "192.0.2.99", []dnsbl.List{bl}, nil, verdict.Fail, 3, "192.0.2.99: listed on bl.example (127.0.0.2) +3", nil},
		{"C2 not listed", "192.0.2.1", []dnsbl.List{bl, zen}, nil, verdict.None, 0, "192.0.2.1 not listed (2 lists)", nil},
		{"no lists", "192.0.2.1", nil, nil, verdict.None, 0, "not listed (0 lists)", nil},
		{"C3 open resolver code", "192.0.2.95", []dnsbl.List{zen}, nil, verdict.TempError, 0,
			"zen.example answered 127.255.255.254: error: query via a public or open resolver", dnsbl.ErrAnswer},
		{"C4 excessive queries code", "192.0.2.94", []dnsbl.List{zen}, nil, verdict.TempError, 0,
			"answered 127.255.255.255: error: excessive number of queries", dnsbl.ErrAnswer},
		{"C5 typo code", "192.0.2.93", []dnsbl.List{zen}, nil, verdict.TempError, 0,
			"answered 127.255.255.252: error: typo", dnsbl.ErrAnswer},
		{"error codes never list, whatever Codes say", "192.0.2.95",
			[]dnsbl.List{with(zen, func(l *dnsbl.List) { l.Codes = prefixes("127.0.0.0/8") })}, nil, verdict.TempError, 0, "error", dnsbl.ErrAnswer},
		{"an error code spoils the listing beside it", "192.0.2.92", []dnsbl.List{zen}, nil, verdict.TempError, 0,
			"answered 127.255.255.254", dnsbl.ErrAnswer},
		{"C6 answer outside 127/8", "192.0.2.1", []dnsbl.List{hijack}, nil, verdict.TempError, 0,
			"hijack.example answered 10.0.0.1: outside 127.0.0.0/8, not a listing", dnsbl.ErrAnswer},
		{"C7 timeout", "192.0.2.99", []dnsbl.List{bl},
			map[string]resolvertest.Fault{"99.2.0.192.bl.example.": resolvertest.Timeout}, verdict.TempError, 0,
			"bl.example lookup failed (i/o timeout)", nil},
		{"SERVFAIL", "192.0.2.99", []dnsbl.List{bl},
			map[string]resolvertest.Fault{"99.2.0.192.bl.example.": resolvertest.ServFail}, verdict.TempError, 0,
			"bl.example lookup failed", nil},
		{"a failure does not hide another list's listing", "192.0.2.99", []dnsbl.List{zen, bl},
			map[string]resolvertest.Fault{"99.2.0.192.zen.example.": resolvertest.ServFail}, verdict.Fail, 3,
			"zen.example lookup failed (server misbehaving); listed on bl.example", nil},
		{"C11 allow list", "192.0.2.90", []dnsbl.List{bl, wl}, nil, verdict.Pass, -0.5,
			"allowed by wl.example (127.0.15.3) -0.5", nil},
		{"block and allow lists add up", "192.0.2.99", []dnsbl.List{bl, wl}, nil, verdict.Fail, 2.5,
			"listed on bl.example (127.0.0.2) +3; allowed by wl.example (127.0.15.3) -0.5", nil},
		{"C12 dnswl blocked code", "192.0.2.91", []dnsbl.List{wl}, nil, verdict.TempError, 0,
			"wl.example answered 127.0.0.255: error code, not a listing", dnsbl.ErrAnswer},
		{"C16 IPv4-mapped", "::ffff:192.0.2.99", []dnsbl.List{bl}, nil, verdict.Fail, 3, "192.0.2.99: listed", nil},
		{"C17 IPv6 nibbles", "2001:db8:1:2:3:4:567:89ab", []dnsbl.List{bl}, nil, verdict.Fail, 3, "2001:db8:1:2:3:4:567:89ab: listed on bl.example", nil},
		{"C15 IPv4-only list not asked for IPv6", "2001:db8:1:2:3:4:567:89ab",
			[]dnsbl.List{with(bl, func(l *dnsbl.List) { l.IPv4Only = true })}, nil, verdict.None, 0, "not listed", nil},
		{"C18 score once per list", "192.0.2.99", []dnsbl.List{zen}, nil, verdict.Fail, 1, "(127.0.0.2, 127.0.0.4, 127.0.0.10) +1", nil},
		{"C19 the same zone twice", "192.0.2.99", []dnsbl.List{zen, zen}, nil, verdict.Fail, 2, "", nil},
		{"C20 weighted", "192.0.2.99", []dnsbl.List{with(zen, func(l *dnsbl.List) { l.Score = 3 }), zen}, nil, verdict.Fail, 4, "", nil},
		{"C20 filtered and weighted", "192.0.2.99",
			[]dnsbl.List{with(zen, func(l *dnsbl.List) { l.Score, l.Codes = 3, prefixes("127.0.0.10/32") }), zen}, nil, verdict.Fail, 4,
			"listed on zen.example (127.0.0.10) +3; listed on zen.example (127.0.0.2, 127.0.0.4, 127.0.0.10) +1", nil},
		{"C21 filter with negative weight", "192.0.2.97",
			[]dnsbl.List{with(zen, func(l *dnsbl.List) { l.Score, l.Codes = 3, prefixes("127.0.0.0/24") }),
				with(zen, func(l *dnsbl.List) { l.Score, l.Codes = -1, prefixes("127.0.0.3/32") })}, nil, verdict.Fail, 2, "", nil},
		{"C21 same, only .10", "192.0.2.96",
			[]dnsbl.List{with(zen, func(l *dnsbl.List) { l.Score, l.Codes = 3, prefixes("127.0.0.0/24") }),
				with(zen, func(l *dnsbl.List) { l.Score, l.Codes = -1, prefixes("127.0.0.3/32") })}, nil, verdict.Fail, 3, "", nil},
		{"C23 any answer matching counts", "192.0.2.99",
			[]dnsbl.List{with(zen, func(l *dnsbl.List) { l.Codes = prefixes("127.0.0.4/32") })}, nil, verdict.Fail, 1, "(127.0.0.4)", nil},
		{"C26 answer outside Codes is not listed", "192.0.2.96",
			[]dnsbl.List{with(zen, func(l *dnsbl.List) { l.Codes = prefixes("127.0.0.2/32") })}, nil, verdict.None, 0, "not listed", nil},
		{"TXT explanation", "192.0.2.99", []dnsbl.List{with(bl, func(l *dnsbl.List) { l.TXT = true })}, nil, verdict.Fail, 3,
			"listed on bl.example (127.0.0.2) +3: see https://bl.example/q/192.0.2.99", nil},
		{"TXT failure changes nothing", "192.0.2.99", []dnsbl.List{with(bl, func(l *dnsbl.List) { l.TXT = true })},
			map[string]resolvertest.Fault{"99.2.0.192.bl.example./TXT": resolvertest.ServFail}, verdict.Fail, 3, "(127.0.0.2) +3", nil},
		{"invalid zone", "192.0.2.99", []dnsbl.List{{Zone: "bad zone", Score: 1}}, nil, verdict.PermError, 0, `invalid zone "bad zone"`, nil},
		{"invalid zone beside a listing", "192.0.2.99", []dnsbl.List{{Zone: "", Score: 1}, bl}, nil, verdict.Fail, 3, `invalid zone ""; listed`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := resolvertest.MustNew(zones)
			r.SetTimeoutAfter(50 * time.Millisecond)
			for n, f := range c.faults {
				if name, typ, ok := strings.Cut(n, "/"); ok {
					r.SetFaultType(name, dns.StringToType[typ], f)
				} else {
					r.SetFault(n, f)
				}
			}
			got := dnsbl.Check(context.Background(), r, netip.MustParseAddr(c.ip), c.lists)
			if got.Check != dnsbl.Name || got.Status != c.status || got.Score != c.score || got.Action != verdict.Accept ||
				!strings.Contains(got.Reason, c.reason) {
				t.Errorf("Check(%s) = %v %v %v %q;\nwant %v %v reason containing %q",
					c.ip, got.Status, got.Score, got.Action, got.Reason, c.status, c.score, c.reason)
			}
			if (got.Status == verdict.TempError || got.Status == verdict.PermError) != (got.Err != nil) {
				t.Errorf("Err = %v with status %v", got.Err, got.Status)
			}
			if c.err != nil && !errors.Is(got.Err, c.err) {
				t.Errorf("Err = %v, want %v", got.Err, c.err)
			}
			if verdict.Printable(got.Reason) != got.Reason {
				t.Errorf("Reason %q is not printable", got.Reason)
			}
		})
	}
}

func TestCheckQueries(t *testing.T) {
	ctx := context.Background()
	r := resolvertest.MustNew(zones)
	dnsbl.Check(ctx, r, netip.MustParseAddr("192.0.2.99"), []dnsbl.List{zen, zen, with(zen, func(l *dnsbl.List) { l.Score = 3 })})
	if n := r.TotalQueries(); n != 1 {
		t.Errorf("three lists of one zone: %d queries, want 1", n)
	}

	r.ResetQueries()
	dnsbl.Check(ctx, r, netip.MustParseAddr("192.0.2.1"), []dnsbl.List{with(bl, func(l *dnsbl.List) { l.TXT = true })})
	if n := r.Queries("1.2.0.192.bl.example.", dns.TypeTXT); n != 0 {
		t.Errorf("TXT asked %d times for an unlisted address", n)
	}

	for _, ip := range []string{"10.0.0.1", "192.168.1.1", "172.16.0.1", "127.0.0.2", "::1", "fe80::1", "fd00::1", "100.64.0.1", "169.254.0.1", "0.0.0.0", "224.0.0.1"} {
		r.ResetQueries()
		got := dnsbl.Check(ctx, r, netip.MustParseAddr(ip), []dnsbl.List{bl})
		if got.Status != verdict.None || r.TotalQueries() != 0 {
			t.Errorf("C14 Check(%s) = %v with %d queries, want none and no query", ip, got.Status, r.TotalQueries())
		}
	}
	if got := dnsbl.Check(ctx, r, netip.Addr{}, []dnsbl.List{bl}); got.Status != verdict.None {
		t.Errorf("zero address: %v", got.Status)
	}

	r.ResetQueries()
	long := dnsbl.List{Zone: strings.Repeat("z", 60) + "." + strings.Repeat("z", 60) + "." + strings.Repeat("z", 60) + "." + strings.Repeat("z", 50), Score: 1}
	if got := dnsbl.Check(ctx, r, netip.MustParseAddr("2001:db8::1"), []dnsbl.List{long}); got.Status != verdict.None || r.TotalQueries() != 0 {
		t.Errorf("name too long to ask: %v with %d queries", got.Status, r.TotalQueries())
	}
}

// TestCheckTimeoutPerList pins that a list that never answers costs only
// its own result: the others' listings are still reported in time.
func TestCheckTimeoutPerList(t *testing.T) {
	r := resolvertest.MustNew(zones)
	r.SetTimeoutAfter(time.Hour)
	r.SetFault("99.2.0.192.zen.example.", resolvertest.Timeout)
	c := dnsbl.New(r, []dnsbl.List{zen, bl}, &dnsbl.Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	got := c.Check(context.Background(), &verdict.Session{IP: netip.MustParseAddr("192.0.2.99")})
	if got.Status != verdict.Fail || got.Score != 3 || !strings.Contains(got.Reason, "zen.example lookup failed") {
		t.Errorf("got %v %v %q", got.Status, got.Score, got.Reason)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestCheckCanceled(t *testing.T) {
	r := resolvertest.MustNew(zones)
	r.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	got := dnsbl.Check(ctx, r, netip.MustParseAddr("192.0.2.99"), []dnsbl.List{bl, zen})
	if got.Status != verdict.TempError || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v, want a prompt temperror", got.Status, time.Since(start))
	}
}

func TestCheckDomain(t *testing.T) {
	for _, c := range []struct {
		domain string
		lists  []dnsbl.List
		status verdict.Status
		score  float64
		reason string
	}{
		{"spam.example.com", []dnsbl.List{dbl}, verdict.Fail, 4, "spam.example.com: listed on dbl.example (127.0.1.2) +4"},
		{"Spam.Example.COM.", []dnsbl.List{dbl}, verdict.Fail, 4, "spam.example.com: listed"},
		{"good.example.com", []dnsbl.List{dbl}, verdict.None, 0, "good.example.com not listed (1 lists)"},
		{"phish.example.com", []dnsbl.List{with(dbl, func(l *dnsbl.List) { l.Codes = prefixes("127.0.1.2/32") })}, verdict.None, 0, "not listed"},
		{"2.0.0.127", []dnsbl.List{dbl}, verdict.None, 0, `not checked: "2.0.0.127" is not a valid domain`},
		{"[192.0.2.1]", []dnsbl.List{dbl}, verdict.None, 0, "not a valid domain"},
		{"a b.example", []dnsbl.List{dbl}, verdict.None, 0, "not a valid domain"},
		{"x\r\ny.example", []dnsbl.List{dbl}, verdict.None, 0, `"xy.example" is not a valid domain`},
		{"", []dnsbl.List{dbl}, verdict.None, 0, "not a valid domain"},
	} {
		r := resolvertest.MustNew(zones)
		got := dnsbl.CheckDomain(context.Background(), r, c.domain, c.lists)
		if got.Status != c.status || got.Score != c.score || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("CheckDomain(%q) = %v %v %q; want %v %v %q", c.domain, got.Status, got.Score, got.Reason, c.status, c.score, c.reason)
		}
		if c.status == verdict.None && strings.Contains(c.reason, "not checked") && r.TotalQueries() != 0 {
			t.Errorf("CheckDomain(%q) asked %d queries", c.domain, r.TotalQueries())
		}
	}
}

func TestChecker(t *testing.T) {
	r := resolvertest.MustNew(zones)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		lists  []dnsbl.List
		o      *dnsbl.Options
		s      verdict.Session
		stage  verdict.Stage
		status verdict.Status
		action verdict.Action
		code   int
		reason string
	}{
		{"client ip, scores only", []dnsbl.List{bl}, nil, verdict.Session{IP: netip.MustParseAddr("192.0.2.99")},
			verdict.Connect, verdict.Fail, verdict.Accept, 0, "listed on bl.example"},
		{"client ip, reject at connect", []dnsbl.List{bl}, &dnsbl.Options{RejectScore: 3}, verdict.Session{IP: netip.MustParseAddr("192.0.2.99")},
			verdict.Connect, verdict.Fail, verdict.Reject, 554, "listed on bl.example"},
		{"client ip, below the reject score", []dnsbl.List{bl, wl}, &dnsbl.Options{RejectScore: 3}, verdict.Session{IP: netip.MustParseAddr("192.0.2.99")},
			verdict.Connect, verdict.Fail, verdict.Accept, 0, "allowed by wl.example"},
		{"error code never rejects", []dnsbl.List{zen}, &dnsbl.Options{RejectScore: 0.1}, verdict.Session{IP: netip.MustParseAddr("192.0.2.95")},
			verdict.Connect, verdict.TempError, verdict.Accept, 0, "127.255.255.254"},
		{"test points with NonGlobal", []dnsbl.List{bl}, &dnsbl.Options{NonGlobal: true}, verdict.Session{IP: netip.MustParseAddr("127.0.0.2")},
			verdict.Connect, verdict.Fail, verdict.Accept, 0, "127.0.0.2: listed on bl.example"},
		{"helo domain, reject after connect", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.Helo, RejectScore: 1}, verdict.Session{HELO: "spam.example.com"},
			verdict.Helo, verdict.Fail, verdict.Reject, 550, "spam.example.com: listed on dbl.example"},
		{"helo literal", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.Helo}, verdict.Session{HELO: "[192.0.2.1]"},
			verdict.Helo, verdict.None, verdict.Accept, 0, "no HELO domain"},
		{"helo bare address", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.Helo}, verdict.Session{HELO: "127.0.0.2"},
			verdict.Helo, verdict.None, verdict.Accept, 0, "no HELO domain"},
		{"mail from domain", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom}, verdict.Session{MailFrom: "a@spam.example.com"},
			verdict.Mail, verdict.Fail, verdict.Accept, 0, "spam.example.com: listed"},
		// The sender as the SMTP server received it: the domain is the one
		// spf evaluates, not "spam.example.com>".
		{"mail from in angle brackets", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom}, verdict.Session{MailFrom: "<a@Spam.Example.com.>"},
			verdict.Mail, verdict.Fail, verdict.Accept, 0, "spam.example.com: listed on dbl.example"},
		{"mail from with a source route", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom}, verdict.Session{MailFrom: "<@relay.example,@other.example:a@spam.example.com>"},
			verdict.Mail, verdict.Fail, verdict.Accept, 0, "spam.example.com: listed on dbl.example"},
		{"mail from an address literal", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom}, verdict.Session{MailFrom: "<a@[192.0.2.1]>"},
			verdict.Mail, verdict.None, verdict.Accept, 0, "no sender domain"},
		{"null sender", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom}, verdict.Session{MailFrom: ""},
			verdict.Mail, verdict.None, verdict.Accept, 0, "no sender domain"},
		{"null sender in brackets", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom}, verdict.Session{MailFrom: "<>"},
			verdict.Mail, verdict.None, verdict.Accept, 0, "no sender domain"},
		{"rdns name", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.RDNS},
			verdict.Session{Results: []verdict.Result{{Check: fcrdns.Name, Status: verdict.Pass, Domain: "spam.example.com"}}},
			verdict.Helo, verdict.Fail, verdict.Accept, 0, "spam.example.com: listed"},
		{"unconfirmed rdns name", []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.RDNS},
			verdict.Session{Results: []verdict.Result{{Check: fcrdns.Name, Status: verdict.Fail, Domain: "spam.example.com"}}},
			verdict.Helo, verdict.None, verdict.Accept, 0, "no confirmed rDNS name"},
	} {
		ch := dnsbl.New(r, c.lists, c.o)
		got := ch.Check(ctx, &c.s)
		if ch.Name() != dnsbl.Name || ch.Stage() != c.stage || got.Status != c.status || got.Action != c.action || got.Code != c.code ||
			!strings.Contains(got.Reason, c.reason) {
			t.Errorf("%s: stage %v, %v %v %d %q; want %v, %v %v %d %q", c.name, ch.Stage(), got.Status, got.Action, got.Code, got.Reason,
				c.stage, c.status, c.action, c.code, c.reason)
		}
		if got.Code != 0 && got.Enhanced != "5.7.1" {
			t.Errorf("%s: enhanced code %q", c.name, got.Enhanced)
		}
	}
}

func TestCheckerPolicy(t *testing.T) {
	r := resolvertest.MustNew(zones)
	p := &verdict.Policy{Checks: []verdict.Check{dnsbl.New(r, []dnsbl.List{bl, zen}, &dnsbl.Options{RejectScore: 4})}}
	d := p.Evaluate(context.Background(), &verdict.Session{IP: netip.MustParseAddr("192.0.2.99")}, verdict.Connect)
	if d.Action != verdict.Reject || d.Code != 554 || d.Enhanced != "5.7.1" || !strings.HasPrefix(d.Message, "192.0.2.99: listed on bl.example") {
		t.Errorf("decision %v", d)
	}
}

func TestCheckNetResolver(t *testing.T) {
	r := resolvertest.MustNew(zones)
	srv, err := resolvertest.NewServer(r)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr)
	}}
	ctx := context.Background()
	for ip, want := range map[string]verdict.Status{"192.0.2.99": verdict.Fail, "192.0.2.1": verdict.None, "192.0.2.95": verdict.TempError} {
		if got := dnsbl.Check(ctx, nr, netip.MustParseAddr(ip), []dnsbl.List{zen}); got.Status != want {
			t.Errorf("Check(%s) = %v %q, want %v", ip, got.Status, got.Reason, want)
		}
	}
	// Over the wire the TXT record's control bytes arrive raw, as from any
	// resolver: the Reason drops them.
	got := dnsbl.Check(ctx, nr, netip.MustParseAddr("192.0.2.98"), []dnsbl.List{with(bl, func(l *dnsbl.List) { l.TXT = true })})
	if !strings.HasSuffix(got.Reason, "(127.0.0.3) +3: badtext here") {
		t.Errorf("TXT explanation: %q", got.Reason)
	}
	if got := dnsbl.CheckDomain(ctx, nr, "spam.example.com", []dnsbl.List{dbl}); got.Status != verdict.Fail {
		t.Errorf("CheckDomain = %v %q", got.Status, got.Reason)
	}
}

func TestTest(t *testing.T) {
	ctx := context.Background()
	r := resolvertest.MustNew(zones + `
$ORIGIN world.example.
* A 127.0.0.2
`)
	r.SetFault("2.0.0.127.broken.example.", resolvertest.ServFail)
	for _, c := range []struct {
		list   dnsbl.List
		domain bool
		want   string // "" for healthy
	}{
		{bl, false, ""},
		{with(zen, func(l *dnsbl.List) { l.Codes = prefixes("127.0.0.10/31") }), false, ""}, // Codes do not matter
		{wl, false, "does not list its test point 2.0.0.127"},
		{dnsbl.List{Zone: "world.example"}, false, "lists 1.0.0.127, which no list may list"},
		{dnsbl.List{Zone: "hijack.example"}, false, "answered 10.0.0.1"},
		{dnsbl.List{Zone: "broken.example"}, false, "server misbehaving"},
		{dnsbl.List{Zone: "bad zone"}, false, "zone"},
		{dbl, true, ""},
		{dbl, false, "answered 127.0.1.255"},
		{bl, true, "does not list its test point test"},
	} {
		test := dnsbl.Test
		if c.domain {
			test = dnsbl.TestDomain
		}
		err := test(ctx, r, c.list)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("test %s (domain %v) = %v, want %q", c.list.Zone, c.domain, err, c.want)
		}
	}
	err := dnsbl.Test(ctx, r, dnsbl.List{Zone: "broken.example"})
	var de *net.DNSError
	if !errors.As(err, &de) {
		t.Errorf("DNS failure %v does not wrap the *net.DNSError", err)
	}
}

// FuzzCheckDomain checks that any domain a client can send gives a
// printable Reason, and that what is not a valid domain is never asked.
func FuzzCheckDomain(f *testing.F) {
	for _, s := range []string{"spam.example.com", "Spam.Example.COM.", "[192.0.2.1]", "1.2.3.4", "a b", "x\r\ny", "bücher.example", ""} {
		f.Add(s)
	}
	r := resolvertest.MustNew(zones)
	lists := []dnsbl.List{dbl}
	f.Fuzz(func(t *testing.T, domain string) {
		r.ResetQueries()
		res := dnsbl.CheckDomain(context.Background(), r, domain, lists)
		if verdict.Printable(res.Reason) != res.Reason {
			t.Fatalf("CheckDomain(%q): reason %q", domain, res.Reason)
		}
		if strings.Contains(res.Reason, "not checked") && r.TotalQueries() != 0 {
			t.Fatalf("CheckDomain(%q): %d queries for an invalid domain", domain, r.TotalQueries())
		}
		if res.Action != verdict.Accept {
			t.Fatalf("CheckDomain(%q): action %v", domain, res.Action)
		}
	})
}

func TestCheckDomainLongSubject(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + ".example.com"
	got := dnsbl.CheckDomain(context.Background(), resolvertest.MustNew(zones), long, []dnsbl.List{{Zone: "d.example", Score: 1}})
	if !strings.HasSuffix(got.Reason, "... not listed (1 lists)") || len(got.Reason) > verdict.MaxReason {
		t.Errorf("Reason = %q", got.Reason)
	}
}

func TestAfter(t *testing.T) {
	r := resolvertest.MustNew(zones)
	var rdns verdict.Check = dnsbl.New(r, []dnsbl.List{bl}, &dnsbl.Options{Identity: dnsbl.RDNS})
	if d, ok := rdns.(verdict.Dependent); !ok || len(d.After()) != 1 || d.After()[0] != fcrdns.Name {
		t.Errorf("an RDNS list must run after fcrdns")
	}
	if d := dnsbl.New(r, []dnsbl.List{bl}, nil); len(d.After()) != 0 {
		t.Errorf("a client IP list waits for %v", d.After())
	}
}

// TestEvaluate runs a Checker outside a Session, and checks that it keeps
// the lists and Options it was made with.
func TestEvaluate(t *testing.T) {
	r := resolvertest.MustNew(zones)
	ctx := context.Background()
	lists := []dnsbl.List{bl}
	o := &dnsbl.Options{RejectScore: 3}
	c := dnsbl.New(r, lists, o)
	lists[0].Zone, lists[0].Score = "other.example", 0
	o.RejectScore = 0
	got := c.Evaluate(ctx, netip.MustParseAddr("192.0.2.99"))
	if got.Status != verdict.Fail || got.Score != 3 || got.Action != verdict.Reject || got.Code != 554 {
		t.Errorf("Evaluate: %v %v %v %d %q; want the list and RejectScore of New's time", got.Status, got.Score, got.Action, got.Code, got.Reason)
	}
	d := dnsbl.New(r, []dnsbl.List{dbl}, &dnsbl.Options{Identity: dnsbl.MailFrom, RejectScore: 1})
	got = d.EvaluateDomain(ctx, "spam.example.com")
	if got.Status != verdict.Fail || got.Action != verdict.Reject || got.Code != 550 {
		t.Errorf("EvaluateDomain: %v %v %d %q", got.Status, got.Action, got.Code, got.Reason)
	}
}
