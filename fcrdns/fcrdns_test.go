package fcrdns_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// Every Resolver the project promises must satisfy the interface.
var (
	_ fcrdns.Resolver = net.DefaultResolver
	_ fcrdns.Resolver = (*resolver.Resolver)(nil)
	_ fcrdns.Resolver = (*resolvertest.Resolver)(nil)
	_ verdict.Check   = (*fcrdns.Checker)(nil)
)

// ptr returns a zone line giving ip the PTR name.
func ptr(ip, name string) string {
	rev, err := dns.ReverseAddr(ip)
	if err != nil {
		panic(err)
	}
	return rev + " PTR " + name + "\n"
}

const zone = `
$ORIGIN example.com.
mail      A     192.0.2.1
mx6       AAAA  2001:db8::25
other     A     192.0.2.99
neighbour A     192.0.2.2
v6only    AAAA  2001:db8::1
good      A     192.0.2.20
bad       A     192.0.2.99
`

func TestCheck(t *testing.T) {
	type want struct {
		status verdict.Status
		score  float64
		domain string
		reason string // substring
		iprev  authres.ResultValue
	}
	for _, c := range []struct {
		name   string
		zone   string
		faults map[string]resolvertest.Fault
		ip     string
		want   want
	}{
		{"pass ipv4", ptr("192.0.2.1", "mail.example.com."), nil, "192.0.2.1",
			want{verdict.Pass, -0.5, "mail.example.com", "192.0.2.1 has forward-confirmed name mail.example.com", authres.ResultPass}},
		{"pass ipv6", ptr("2001:db8::25", "mx6.example.com."), nil, "2001:db8::25",
			want{verdict.Pass, -0.5, "mx6.example.com", "forward-confirmed name mx6.example.com", authres.ResultPass}},
		{"ipv4-mapped is ipv4", ptr("192.0.2.1", "mail.example.com."), nil, "::ffff:192.0.2.1",
			want{verdict.Pass, -0.5, "mail.example.com", "192.0.2.1 has", authres.ResultPass}},
		{"name case and trailing dot removed", ptr("192.0.2.1", "MAIL.Example.COM."), nil, "192.0.2.1",
			want{verdict.Pass, -0.5, "mail.example.com", "mail.example.com", authres.ResultPass}},
		{"no ptr: nxdomain", "", nil, "192.0.2.1",
			want{verdict.PermError, 3, "", "no PTR record for 192.0.2.1", authres.ResultPermError}},
		{"no ptr: nodata", "1.2.0.192.in-addr.arpa. TXT \"no ptr here\"\n", nil, "192.0.2.1",
			want{verdict.PermError, 3, "", "no PTR record", authres.ResultPermError}},
		{"forward mismatch", ptr("192.0.2.1", "other.example.com."), nil, "192.0.2.1",
			want{verdict.Fail, 2, "", "no PTR name of 192.0.2.1 resolves back to it (other.example.com)", authres.ResultFail}},
		{"forward nxdomain", ptr("192.0.2.1", "ghost.example.com."), nil, "192.0.2.1",
			want{verdict.Fail, 2, "", "(ghost.example.com)", authres.ResultFail}},
		{"forward nodata for the client's family", ptr("192.0.2.1", "v6only.example.com."), nil, "192.0.2.1",
			want{verdict.Fail, 2, "", "v6only.example.com", authres.ResultFail}},
		{"same /24 is not a match", ptr("192.0.2.1", "neighbour.example.com."), nil, "192.0.2.1",
			want{verdict.Fail, 2, "", "neighbour", authres.ResultFail}},
		{"ptr servfail", ptr("192.0.2.1", "mail.example.com."),
			map[string]resolvertest.Fault{"1.2.0.192.in-addr.arpa.": resolvertest.ServFail}, "192.0.2.1",
			want{verdict.TempError, 0, "", "DNS error looking up the PTR record of 192.0.2.1", authres.ResultTempError}},
		{"ptr timeout", ptr("192.0.2.1", "mail.example.com."),
			map[string]resolvertest.Fault{"1.2.0.192.in-addr.arpa.": resolvertest.Timeout}, "192.0.2.1",
			want{verdict.TempError, 0, "", "timeout", authres.ResultTempError}},
		{"forward servfail, nothing confirms", ptr("192.0.2.1", "mail.example.com."),
			map[string]resolvertest.Fault{"mail.example.com.": resolvertest.ServFail}, "192.0.2.1",
			want{verdict.TempError, 0, "", "DNS error confirming the PTR names of 192.0.2.1", authres.ResultTempError}},
		{"forward servfail, another name confirms",
			ptr("192.0.2.20", "broken.example.com.") + ptr("192.0.2.20", "good.example.com."),
			map[string]resolvertest.Fault{"broken.example.com.": resolvertest.ServFail}, "192.0.2.20",
			want{verdict.Pass, -0.5, "good.example.com", "good.example.com", authres.ResultPass}},
		{"forward servfail beside a mismatch",
			ptr("192.0.2.20", "broken.example.com.") + ptr("192.0.2.20", "bad.example.com."),
			map[string]resolvertest.Fault{"broken.example.com.": resolvertest.ServFail}, "192.0.2.20",
			want{verdict.TempError, 0, "", "DNS error", authres.ResultTempError}},
		{"two names, neither confirms",
			ptr("192.0.2.20", "bad.example.com.") + ptr("192.0.2.20", "other.example.com."), nil, "192.0.2.20",
			want{verdict.Fail, 2, "", "bad.example.com, other.example.com", authres.ResultFail}},
		{"generic confirmed name adds its score",
			ptr("198.51.100.7", "dsl-198-51-100-7.pool.example.net.") + "dsl-198-51-100-7.pool.example.net. A 198.51.100.7\n",
			nil, "198.51.100.7",
			want{verdict.Pass, 1, "dsl-198-51-100-7.pool.example.net", "generic name: its IP address is embedded in decimal", authres.ResultPass}},
		{"generic unconfirmed name adds its score",
			ptr("198.51.100.7", "ppp7.dialup.example.net."), nil, "198.51.100.7",
			want{verdict.Fail, 3.5, "", `ppp7.dialup.example.net: its host part has the word "ppp"`, authres.ResultFail}},
		{"an invalid name beside a valid one", ptr("192.0.2.1", "bad-.example.com.") + ptr("192.0.2.1", "mail.example.com."), nil, "192.0.2.1",
			want{verdict.Pass, -0.5, "mail.example.com", "mail.example.com", authres.ResultPass}},
		{"only invalid names", ptr("192.0.2.1", "bad-.example.com."), nil, "192.0.2.1",
			want{verdict.Fail, 2, "", "holds no valid host name", authres.ResultFail}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := resolvertest.MustNew(zone + c.zone)
			r.SetTimeoutAfter(50 * time.Millisecond)
			for n, f := range c.faults {
				r.SetFault(n, f)
			}
			ip := netip.MustParseAddr(c.ip)
			got := fcrdns.Check(context.Background(), r, ip)
			if got.Check != fcrdns.Name || got.Status != c.want.status || got.Score != c.want.score ||
				got.Domain != c.want.domain || !strings.Contains(got.Reason, c.want.reason) || got.Action != verdict.Accept {
				t.Errorf("Check(%s) = %v %v domain %q action %v reason %q;\nwant %v %v domain %q reason containing %q",
					c.ip, got.Status, got.Score, got.Domain, got.Action, got.Reason,
					c.want.status, c.want.score, c.want.domain, c.want.reason)
			}
			if (got.Status == verdict.TempError) != (got.Err != nil) {
				t.Errorf("Err = %v with status %v", got.Err, got.Status)
			}
			if len(got.Auth) != 1 {
				t.Fatalf("Auth = %v, want one iprev result", got.Auth)
			}
			ar, ok := got.Auth[0].(*authres.IPRevResult)
			if !ok || ar.Value != c.want.iprev || ar.IP != ip.Unmap().String() {
				t.Errorf("Auth = %#v, want iprev=%s policy.iprev=%s", got.Auth[0], c.want.iprev, ip.Unmap())
			}
			if p := verdict.Printable(got.Reason); p != got.Reason {
				t.Errorf("Reason %q is not printable", got.Reason)
			}
		})
	}
}

func TestCheckMaxNames(t *testing.T) {
	var z strings.Builder
	for i := range fcrdns.MaxNames + 2 {
		z.WriteString(ptr("192.0.2.1", fmt.Sprintf("n%d.example.com.", i)))
	}
	// Only the last name, beyond MaxNames, would confirm.
	z.WriteString(fmt.Sprintf("n%d.example.com. A 192.0.2.1\n", fcrdns.MaxNames+1))
	r := resolvertest.MustNew(z.String())
	got := fcrdns.Check(context.Background(), r, netip.MustParseAddr("192.0.2.1"))
	if got.Status != verdict.Fail {
		t.Errorf("Status = %v (%s), want fail: names beyond MaxNames are not checked", got.Status, got.Reason)
	}
	if n := r.TotalQueries(); n != 1+fcrdns.MaxNames {
		t.Errorf("%d queries, want %d", n, 1+fcrdns.MaxNames)
	}
	if !strings.HasSuffix(got.Reason, ", ...)") {
		t.Errorf("Reason %q does not shorten the name list", got.Reason)
	}
}

func TestCheckForwardQueries(t *testing.T) {
	// The same name twice, in two spellings, is asked once.
	r := resolvertest.MustNew(zone + ptr("192.0.2.1", "mail.example.com.") + ptr("192.0.2.1", "MAIL.example.com."))
	fcrdns.Check(context.Background(), r, netip.MustParseAddr("192.0.2.1"))
	if a, aaaa := r.Queries("mail.example.com.", dns.TypeA), r.Queries("mail.example.com.", dns.TypeAAAA); a != 1 || aaaa != 0 {
		t.Errorf("A queries %d, AAAA queries %d; want 1, 0", a, aaaa)
	}
}

func TestCheckNonGlobal(t *testing.T) {
	z := ptr("10.1.1.1", "host.example.com.") + "host.example.com. A 10.1.1.1\n"
	for _, ip := range []string{"10.1.1.1", "127.0.0.1", "::1", "fe80::1", "fd00::1", "100.64.0.1", "169.254.1.1"} {
		r := resolvertest.MustNew(z)
		got := fcrdns.Check(context.Background(), r, netip.MustParseAddr(ip))
		if got.Status != verdict.None || got.Score != 0 || got.Auth != nil || r.TotalQueries() != 0 {
			t.Errorf("Check(%s) = %v %v, %d queries; want none, 0, no queries", ip, got.Status, got.Score, r.TotalQueries())
		}
	}
	r := resolvertest.MustNew(z)
	got := fcrdns.New(r, &fcrdns.Options{NonGlobal: true}).Check(context.Background(), &verdict.Session{IP: netip.MustParseAddr("10.1.1.1")})
	if got.Status != verdict.Pass || got.Domain != "host.example.com" {
		t.Errorf("with NonGlobal: %v %q, want pass host.example.com", got.Status, got.Domain)
	}
	if got := fcrdns.Check(context.Background(), r, netip.Addr{}); got.Status != verdict.None {
		t.Errorf("zero address: %v, want none", got.Status)
	}
}

func TestCheckScores(t *testing.T) {
	sc := fcrdns.DefaultScores
	sc.PermError = 7
	r := resolvertest.MustNew("")
	got := fcrdns.New(r, &fcrdns.Options{Scores: &sc}).Check(context.Background(), &verdict.Session{IP: netip.MustParseAddr("192.0.2.1")})
	if got.Status != verdict.PermError || got.Score != 7 {
		t.Errorf("got %v %v, want permerror 7", got.Status, got.Score)
	}
}

// TestScoresCopied checks that a Checker keeps the scores it was made
// with: later changes to DefaultScores or to the caller's Options do not
// reach it.
func TestScoresCopied(t *testing.T) {
	r := resolvertest.MustNew("")
	ip := netip.MustParseAddr("192.0.2.1")
	sc := fcrdns.DefaultScores
	sc.PermError = 7
	o := &fcrdns.Options{Scores: &sc}
	custom, plain := fcrdns.New(r, o), fcrdns.New(r, nil)
	saved := fcrdns.DefaultScores
	defer func() { fcrdns.DefaultScores = saved }()
	sc.PermError = 8
	fcrdns.DefaultScores.PermError = 9
	o.NonGlobal = true
	if got := custom.Evaluate(context.Background(), ip); got.Score != 7 {
		t.Errorf("custom Checker scored %v, want the 7 it was made with", got.Score)
	}
	if got := plain.Evaluate(context.Background(), ip); got.Score != saved.PermError {
		t.Errorf("default Checker scored %v, want the %v DefaultScores held at New", got.Score, saved.PermError)
	}
	if got := custom.Evaluate(context.Background(), netip.MustParseAddr("10.0.0.1")); got.Status != verdict.None {
		t.Errorf("private address after changing Options.NonGlobal: %v, want none (not looked up)", got.Status)
	}
}

// TestGenericIPv6 checks that a confirmed IPv6 name that spells out the
// client's address is scored as generic.
func TestGenericIPv6(t *testing.T) {
	ip := "2001:db8::25"
	r := resolvertest.MustNew(ptr(ip, "2001-db8--25.dyn.example.com.") + "2001-db8--25.dyn.example.com. AAAA " + ip + "\n")
	got := fcrdns.Check(context.Background(), r, netip.MustParseAddr(ip))
	want := fcrdns.DefaultScores.Pass + fcrdns.DefaultScores.Generic
	if got.Status != verdict.Pass || got.Score != want || !strings.Contains(got.Reason, "IPv6 address is embedded") {
		t.Errorf("got %v %v %q, want pass %v with the IPv6 rule", got.Status, got.Score, got.Reason, want)
	}
}

func TestCheckCanceled(t *testing.T) {
	r := resolvertest.MustNew(ptr("192.0.2.1", "mail.example.com."))
	r.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	got := fcrdns.Check(ctx, r, netip.MustParseAddr("192.0.2.1"))
	if got.Status != verdict.TempError || time.Since(start) > 5*time.Second {
		t.Errorf("got %v after %v, want a prompt temperror", got.Status, time.Since(start))
	}
}

// TestCheckNetResolver runs the check with a *net.Resolver talking to a
// resolvertest server on loopback, as net.DefaultResolver would talk to
// the system's resolver.
func TestCheckNetResolver(t *testing.T) {
	r := resolvertest.MustNew(zone + ptr("192.0.2.1", "mail.example.com.") + ptr("2001:db8::25", "mx6.example.com."))
	srv, err := resolvertest.NewServer(r)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nr := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr)
	}}
	for ip, want := range map[string]verdict.Status{"192.0.2.1": verdict.Pass, "2001:db8::25": verdict.Pass, "192.0.2.7": verdict.PermError} {
		if got := fcrdns.Check(context.Background(), nr, netip.MustParseAddr(ip)); got.Status != want {
			t.Errorf("Check(%s) = %v (%s), want %v", ip, got.Status, got.Reason, want)
		}
	}
}

func TestChecker(t *testing.T) {
	r := resolvertest.MustNew(zone + ptr("192.0.2.1", "mail.example.com."))
	c := fcrdns.New(r, nil)
	if c.Name() != fcrdns.Name || c.Stage() != verdict.Connect {
		t.Errorf("Name, Stage = %q, %v", c.Name(), c.Stage())
	}
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.1")}
	d := p.Evaluate(context.Background(), s, verdict.Connect)
	if res, ok := s.Result(fcrdns.Name); !ok || res.Domain != "mail.example.com" {
		t.Errorf("session result %+v", res)
	}
	if h := d.AuthenticationResults("mx.example.org"); h != "mx.example.org; iprev=pass policy.iprev=192.0.2.1" {
		t.Errorf("Authentication-Results: %s", h)
	}
}
