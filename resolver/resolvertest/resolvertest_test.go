package resolvertest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

const zone = `
$ORIGIN example.org.
$TTL 300
@         SOA   ns hostmaster 1 7200 3600 1209600 60
@         MX    10 mx
@         TXT   "v=spf1 " "mx -all"
mx        A     192.0.2.25
mx        AAAA  2001:db8::25
mx  60    TXT   "sixty"
alias     CNAME mx
c1        CNAME c2
c2        CNAME alias
dangling  CNAME gone
loop1     CNAME loop2
loop2     CNAME loop1
x.y.ent   A     192.0.2.9
*.wild    TXT   "wildcard"
*.wild    A     192.0.2.10
sub.wild  TXT   "explicit"
*.cname   CNAME mx
absolute.example.net. A 192.0.2.11
$ORIGIN other.example.
$TTL 30
@         A     192.0.2.12
`

// class names an error's class the way callers of net test it.
func class(err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "ok"
	case !errors.As(err, &de):
		return fmt.Sprintf("%T", err)
	case de.IsNotFound:
		return "notfound"
	case de.IsTimeout:
		return "timeout"
	case de.IsTemporary:
		return "temporary"
	}
	return "permanent"
}

// lookup runs one lookup method and gives its results as sorted strings.
func lookup(ctx context.Context, r interface {
	LookupTXT(context.Context, string) ([]string, error)
	LookupNetIP(context.Context, string, string) ([]netip.Addr, error)
	LookupMX(context.Context, string) ([]*net.MX, error)
	LookupCNAME(context.Context, string) (string, error)
}, method, name string) ([]string, error) {
	var out []string
	var err error
	switch method {
	case "TXT":
		out, err = r.LookupTXT(ctx, name)
	case "A", "AAAA", "ip":
		network := map[string]string{"A": "ip4", "AAAA": "ip6", "ip": "ip"}[method]
		var ips []netip.Addr
		ips, err = r.LookupNetIP(ctx, network, name)
		for _, ip := range ips {
			out = append(out, ip.String())
		}
	case "MX":
		var mx []*net.MX
		mx, err = r.LookupMX(ctx, name)
		for _, m := range mx {
			out = append(out, fmt.Sprint(m.Pref, " ", m.Host))
		}
	case "CNAME":
		var c string
		c, err = r.LookupCNAME(ctx, name)
		if c != "" {
			out = []string{c}
		}
	}
	slices.Sort(out)
	return out, err
}

// The zone answers as a recursive server would: $ORIGIN, $TTL, relative and
// absolute names, CNAME chains, wildcards (RFC 4592), empty non-terminals,
// NXDOMAIN and NODATA; in memory and over the wire alike.
func TestAnswers(t *testing.T) {
	r := resolvertest.MustNew(zone)
	srv := resolvertest.MustNewServer(r)
	defer srv.Close()
	wire, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, CacheSize: -1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, name string
		want         string
	}{
		{"TXT", "example.org", "[v=spf1 mx -all]"},
		{"TXT", "EXAMPLE.ORG.", "[v=spf1 mx -all]"},
		{"MX", "example.org", "[10 mx.example.org.]"},
		{"ip", "mx.example.org", "[192.0.2.25 2001:db8::25]"},
		{"A", "alias.example.org", "[192.0.2.25]"},
		{"A", "c1.example.org", "[192.0.2.25]"},
		{"TXT", "c1.example.org", "[sixty]"},
		{"CNAME", "c1.example.org", "[mx.example.org.]"},
		{"CNAME", "mx.example.org", "[mx.example.org.]"},
		{"CNAME", "dangling.example.org", "[gone.example.org.]"},
		{"A", "dangling.example.org", "notfound"},
		{"A", "loop1.example.org", "temporary"},
		{"A", "x.y.ent.example.org", "[192.0.2.9]"},
		{"A", "y.ent.example.org", "notfound"}, // NODATA
		{"A", "nosuch.example.org", "notfound"},
		{"TXT", "a.wild.example.org", "[wildcard]"},
		{"TXT", "a.b.wild.example.org", "[wildcard]"},
		{"A", "a.wild.example.org", "[192.0.2.10]"},
		{"MX", "a.wild.example.org", "notfound"},      // wildcard NODATA
		{"TXT", "sub.wild.example.org", "[explicit]"}, // an explicit name is no wildcard match
		{"A", "sub.wild.example.org", "notfound"},
		{"TXT", "x.sub.wild.example.org", "notfound"}, // closest encloser sub.wild has no wildcard
		{"TXT", "wild.example.org", "notfound"},       // empty non-terminal
		{"A", "anything.cname.example.org", "[192.0.2.25]"},
		{"A", "absolute.example.net", "[192.0.2.11]"},
		{"A", "other.example", "[192.0.2.12]"},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			via string
			r   *resolver.Resolver
		}{{"memory", r.Resolver}, {"wire", wire}} {
			got, err := lookup(context.Background(), c.r, tt.method, tt.name)
			s := fmt.Sprint(got)
			if err != nil {
				s = class(err)
			}
			if s != tt.want {
				t.Errorf("%s: %s %s = %s (%v), want %s", c.via, tt.method, tt.name, s, err, tt.want)
			}
		}
	}
}

// The server's messages: negative answers carry the zone's SOA, TTLs come
// from $TTL or the record, EDNS0 is answered with EDNS0, and an answer
// too big for UDP is truncated.
func TestServerMessages(t *testing.T) {
	var big strings.Builder
	big.WriteString(zone + "$ORIGIN example.org.\n")
	for i := range 50 {
		fmt.Fprintf(&big, "big TXT \"record %02d padded to make the whole answer larger than 1232 bytes\"\n", i)
	}
	r := resolvertest.MustNew(big.String())
	srv := resolvertest.MustNewServer(r)
	defer srv.Close()
	ask := func(netw, name string, qtype uint16, edns bool) *dns.Msg {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		if edns {
			q.SetEdns0(1232, false)
		}
		c := &dns.Client{Net: netw, Timeout: time.Second}
		m, _, err := c.Exchange(q, srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := ask("udp", "nosuch.example.org.", dns.TypeA, false)
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || m.IsEdns0() != nil {
		t.Errorf("NXDOMAIN: %v", m)
	}
	m = ask("udp", "mx.example.org.", dns.TypeMX, true)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 || m.IsEdns0() == nil {
		t.Errorf("NODATA with EDNS0: %v", m)
	}
	m = ask("udp", "mx.example.org.", dns.TypeA, false)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 300 || !m.RecursionAvailable || !m.Response {
		t.Errorf("$TTL 300: %v", m)
	}
	m = ask("udp", "mx.example.org.", dns.TypeTXT, false)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 60 {
		t.Errorf("TTL 60: %v", m)
	}
	m = ask("udp", "other.example.", dns.TypeA, false)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 30 {
		t.Errorf("second $TTL 30: %v", m)
	}
	m = ask("udp", "big.example.org.", dns.TypeTXT, true)
	if !m.Truncated || len(m.Answer) >= 50 {
		t.Errorf("big over UDP: TC %v, %d records", m.Truncated, len(m.Answer))
	}
	m = ask("tcp", "big.example.org.", dns.TypeTXT, true)
	if m.Truncated || len(m.Answer) != 50 {
		t.Errorf("big over TCP: TC %v, %d records", m.Truncated, len(m.Answer))
	}
	r.SetFault("mx.example.org", resolvertest.Truncate)
	m = ask("udp", "mx.example.org.", dns.TypeA, true)
	if !m.Truncated || len(m.Answer) != 0 {
		t.Errorf("Truncate over UDP: %v", m)
	}
	m = ask("tcp", "mx.example.org.", dns.TypeA, true)
	if m.Truncated || len(m.Answer) != 1 {
		t.Errorf("Truncate over TCP: %v", m)
	}
}

// The WrongID, WrongQuestion and Garbage faults send a bad message before
// the real answer.
func TestServerForgeries(t *testing.T) {
	r := resolvertest.MustNew(zone)
	srv := resolvertest.MustNewServer(r)
	defer srv.Close()
	for _, f := range []resolvertest.Fault{resolvertest.WrongID, resolvertest.WrongQuestion, resolvertest.Garbage} {
		r.SetFault("mx.example.org", f)
		c, err := net.Dial("udp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Second))
		q := new(dns.Msg)
		q.SetQuestion("mx.example.org.", dns.TypeA)
		b, _ := q.Pack()
		c.Write(b)
		var got []*dns.Msg
		buf := make([]byte, 1500)
		for range 2 {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%v: %v", f, err)
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil {
				m = nil
			}
			got = append(got, m)
		}
		c.Close()
		bad, good := got[0], got[1]
		if good == nil || good.Id != q.Id || len(good.Answer) != 1 {
			t.Errorf("%v: second message %v, want the answer", f, good)
		}
		switch f {
		case resolvertest.WrongID:
			if bad == nil || bad.Id == q.Id {
				t.Errorf("%v: first message %v", f, bad)
			}
		case resolvertest.WrongQuestion:
			if bad == nil || bad.Id != q.Id || bad.Question[0].Name == "mx.example.org." {
				t.Errorf("%v: first message %v", f, bad)
			}
		case resolvertest.Garbage:
			if bad != nil {
				t.Errorf("%v: first message parses: %v", f, bad)
			}
		}
	}
}

func TestZoneErrors(t *testing.T) {
	for _, z := range []string{
		"example.org. IN A",                      // no address
		"example.org. IN A 300.1.1.1",            // bad address
		"example.org. IN BOGUS 1",                // unknown type
		"$INCLUDE /etc/passwd",                   // no files
		"x.example. CNAME",                       // no target
		"example.org. MX mx.example.org.",        // no preference
		"example.org. TXT \"unterminated",        // open quote
		"$TTL forever\nexample.org. A 192.0.2.1", // bad $TTL
	} {
		if _, err := resolvertest.New(z); err == nil {
			t.Errorf("New(%q): no error", z)
		}
		if err := resolvertest.MustNew("").Add(z); err == nil {
			t.Errorf("Add(%q): no error", z)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNew of a bad zone did not panic")
		}
	}()
	resolvertest.MustNew("x.example. A nonsense")
}

// Records added later are answered, and faults and latency may change
// while lookups run.
func TestConcurrentChanges(t *testing.T) {
	r := resolvertest.MustNew(zone)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			name := fmt.Sprintf("n%d.example.org", i)
			if err := r.Add(name + ". A 192.0.2.1"); err != nil {
				t.Error(err)
			}
			r.SetFault(name, resolvertest.ServFail)
			r.SetLatency(time.Millisecond)
			r.SetFault(name, resolvertest.NoFault)
			r.SetLatency(0)
			if _, err := r.LookupHost(context.Background(), name); err != nil {
				t.Error(err)
			}
			r.Queries(name, dns.TypeA)
		})
	}
	wg.Wait()
	if r.TotalQueries() != 40 {
		t.Errorf("%d queries, want 40", r.TotalQueries())
	}
}

// Faults for a name, for one type of a name, in memory and over the wire.
func TestFaults(t *testing.T) {
	r := resolvertest.MustNew(zone)
	r.SetTimeoutAfter(50 * time.Millisecond)
	srv := resolvertest.MustNewServer(r)
	defer srv.Close()
	wire, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, CacheSize: -1, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fault  resolvertest.Fault
		qtype  uint16 // 0: any
		method string
		want   string
	}{
		{resolvertest.ServFail, 0, "ip", "temporary"},
		{resolvertest.Refused, 0, "TXT", "temporary"},
		{resolvertest.Timeout, 0, "A", "timeout"},
		{resolvertest.ServFail, dns.TypeAAAA, "A", "[192.0.2.25]"},
		{resolvertest.ServFail, dns.TypeAAAA, "AAAA", "temporary"},
		{resolvertest.ServFail, dns.TypeAAAA, "ip", "[192.0.2.25]"},
		{resolvertest.Timeout, dns.TypeA, "ip", "[2001:db8::25]"},
		{resolvertest.Refused, dns.TypeMX, "TXT", "[sixty]"},
		{resolvertest.Truncate, 0, "A", "[192.0.2.25]"},
		{resolvertest.Garbage, 0, "A", "[192.0.2.25]"},
	}
	for _, tt := range tests {
		r.SetFaultType("MX.example.org", tt.qtype, tt.fault)
		for _, c := range []struct {
			via string
			r   *resolver.Resolver
		}{{"memory", r.Resolver}, {"wire", wire}} {
			got, err := lookup(context.Background(), c.r, tt.method, "mx.example.org")
			s := fmt.Sprint(got)
			if err != nil {
				s = class(err)
			}
			if s != tt.want {
				t.Errorf("%s: %v for type %d: %s = %s (%v), want %s", c.via, tt.fault, tt.qtype, tt.method, s, err, tt.want)
			}
		}
		r.SetFaultType("mx.example.org", tt.qtype, resolvertest.NoFault)
	}
	// A fault for one type goes before one for any type.
	r.SetFault("mx.example.org", resolvertest.Refused)
	r.SetFaultType("mx.example.org", dns.TypeA, resolvertest.ServFail)
	_, err = r.LookupNetIP(context.Background(), "ip4", "mx.example.org")
	if de, ok := err.(*net.DNSError); !ok || de.Err != "server misbehaving" {
		t.Errorf("type fault: %v, want SERVFAIL's error", err)
	}
	if _, err := r.LookupTXT(context.Background(), "mx.example.org"); !strings.Contains(fmt.Sprint(err), "REFUSED") {
		t.Errorf("any-type fault: %v, want REFUSED's error", err)
	}
}

func TestLatency(t *testing.T) {
	r := resolvertest.MustNew(zone)
	const d = 20 * time.Millisecond
	r.SetLatency(d)
	ctx := context.Background()
	start := time.Now()
	if _, err := r.LookupTXT(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	if e := time.Since(start); e < d {
		t.Errorf("lookup took %v, want at least %v", e, d)
	}

	// Over the wire too.
	srv := resolvertest.MustNewServer(r)
	defer srv.Close()
	wire, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := wire.LookupMX(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	if e := time.Since(start); e < d {
		t.Errorf("lookup over the wire took %v, want at least %v", e, d)
	}

	// A CNAME chain is answered in one query: one latency.
	r.ResetQueries()
	if _, err := r.LookupNetIP(ctx, "ip4", "c1.example.org"); err != nil || r.TotalQueries() != 1 {
		t.Errorf("chain: %v, %d queries; want one", err, r.TotalQueries())
	}
}

// LookupNetIP("ip") sends A and AAAA together, so it costs one latency:
// both queries wait out the latency at the same time.
func TestParallelFamilies(t *testing.T) {
	r := resolvertest.MustNew(zone)
	r.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := r.LookupNetIP(ctx, "ip", "mx.example.org")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for r.TotalQueries() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if r.Queries("mx.example.org", dns.TypeA) != 1 || r.Queries("mx.example.org", dns.TypeAAAA) != 1 {
		t.Errorf("A and AAAA not in flight together: %d queries", r.TotalQueries())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want canceled", err)
	}
}

// Every lookup is a query, counted per name and type; identical
// concurrent lookups are not shared.
func TestQueries(t *testing.T) {
	r := resolvertest.MustNew(zone)
	r.SetLatency(10 * time.Millisecond)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { r.LookupTXT(ctx, "example.org") })
	}
	wg.Wait()
	r.LookupHost(ctx, "MX.example.org.")
	r.LookupMX(ctx, "nosuch.example.org")
	r.LookupTXT(ctx, "bad name") // not asked
	for _, c := range []struct {
		name  string
		qtype uint16
		want  int
	}{
		{"example.org", dns.TypeTXT, 5},
		{"EXAMPLE.org.", dns.TypeTXT, 5},
		{"mx.example.org", dns.TypeA, 1},
		{"mx.example.org", dns.TypeAAAA, 1},
		{"nosuch.example.org", dns.TypeMX, 1},
		{"example.org", dns.TypeMX, 0},
	} {
		if got := r.Queries(c.name, c.qtype); got != c.want {
			t.Errorf("Queries(%s, %s) = %d, want %d", c.name, dns.TypeToString[c.qtype], got, c.want)
		}
	}
	if r.TotalQueries() != 8 {
		t.Errorf("TotalQueries = %d, want 8", r.TotalQueries())
	}
	r.ResetQueries()
	if r.TotalQueries() != 0 || r.Queries("example.org", dns.TypeTXT) != 0 {
		t.Error("ResetQueries did not reset")
	}
}

// The Timeout fault fails after SetTimeoutAfter, with a timeout.
func TestTimeoutAfter(t *testing.T) {
	r := resolvertest.MustNew(zone)
	r.SetFault("mx.example.org", resolvertest.Timeout)
	for _, c := range []struct {
		after time.Duration
		byCtx bool // the lookup ends at its context's deadline, not by the fault
	}{{50 * time.Millisecond, false}, {time.Hour, true}} {
		r.SetTimeoutAfter(c.after)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		_, err := r.LookupMX(ctx, "mx.example.org")
		e := time.Since(start)
		cancel()
		if class(err) != "timeout" || errors.Is(err, context.DeadlineExceeded) != c.byCtx || e < min(c.after, 2*time.Second) {
			t.Errorf("SetTimeoutAfter(%v): %v after %v; want a timeout (by the context: %v)", c.after, err, e, c.byCtx)
		}
	}
}

// A lookup returns as soon as its context ends, whether it waits for a
// Timeout fault or out the latency.
func TestContext(t *testing.T) {
	r := resolvertest.MustNew(zone)
	r.SetFault("mx.example.org", resolvertest.Timeout)
	r.SetTimeoutAfter(time.Hour)
	r.SetLatency(time.Hour)
	for _, name := range []string{"mx.example.org", "example.org"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		start := time.Now()
		_, err := r.LookupTXT(ctx, name)
		cancel()
		if e := time.Since(start); e > 10*time.Second || !errors.Is(err, context.DeadlineExceeded) || class(err) != "timeout" {
			t.Errorf("%s: %v after %v; want a timeout at the deadline", name, err, e)
		}
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		start = time.Now()
		_, err = r.LookupNetIP(ctx, "ip", name)
		if e := time.Since(start); e > 10*time.Second || !errors.Is(err, context.Canceled) || class(err) != "temporary" {
			t.Errorf("%s: %v after %v; want canceled, temporary", name, err, e)
		}
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[resolvertest.Fault]string{
		resolvertest.NoFault: "none", resolvertest.ServFail: "servfail", resolvertest.Garbage: "garbage", 99: "fault(99)", -1: "fault(-1)",
	} {
		if f.String() != want {
			t.Errorf("%d: %q, want %q", int(f), f.String(), want)
		}
	}
}

func TestServerClose(t *testing.T) {
	r := resolvertest.MustNew(zone)
	srv, err := resolvertest.NewServer(r)
	if err != nil {
		t.Fatal(err)
	}
	r.SetLatency(time.Hour)
	go func() {
		c := &dns.Client{Timeout: 50 * time.Millisecond}
		q := new(dns.Msg)
		q.SetQuestion("example.org.", dns.TypeA)
		c.Exchange(q, srv.Addr)
	}()
	for r.TotalQueries() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Close does not wait out the latency of the query in progress.
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits out the latency")
	}
	srv.Close() // twice is fine
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion("example.org.", dns.TypeA)
	if _, _, err := c.Exchange(q, srv.Addr); err == nil {
		t.Error("closed server answered")
	}
}
