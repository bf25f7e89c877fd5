package verify

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// route sends every domain to addr.
func route(addr string) func(string) []string {
	return func(string) []string { return []string{addr} }
}

func TestCalloutTargets(t *testing.T) {
	known := &goServer{users: map[string]bool{"alice@example.test": true}}
	known.start(t, "127.0.0.2", false)
	tlsServer := &goServer{users: map[string]bool{"alice@example.test": true}}
	tlsServer.start(t, "127.0.0.2", true)
	catchAll := (&goServer{catchAll: true}).start(t, "127.0.0.2", false)
	mail550 := (&goServer{mailErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "we refuse bounces"}}).start(t, "127.0.0.2", false)
	rcpt450 := (&goServer{rcptErr: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}}).start(t, "127.0.0.2", false)
	greylisting := (&goServer{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}}).start(t, "127.0.0.2", false)

	busy := scripted(t, "127.0.0.3", func(c net.Conn) {
		fmt.Fprint(c, "421-mx.test too busy\r\n421 4.3.2 try later\r\n")
	})
	refuse := scripted(t, "127.0.0.3", func(c net.Conn) {
		fmt.Fprint(c, "554 5.7.1 no SMTP service here\r\n")
	})
	garbage := scripted(t, "127.0.0.3", func(c net.Conn) {
		fmt.Fprint(c, "hello, this is not SMTP\r\n")
	})
	closing := scripted(t, "127.0.0.3", func(c net.Conn) {})
	// A server of the old kind: multi-line banner, no EHLO, no pipelining.
	heloOnly := scripted(t, "127.0.0.3", func(c net.Conn) {
		fmt.Fprint(c, "220-mx.test\r\n220-old server\r\n220 hello\r\n")
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			line := strings.ToUpper(string(buf[:n]))
			switch {
			case strings.HasPrefix(line, "EHLO"):
				fmt.Fprint(c, "502 command not implemented\r\n")
			case strings.HasPrefix(line, "HELO"):
				fmt.Fprint(c, "250 mx.test\r\n")
			case strings.HasPrefix(line, "MAIL"):
				fmt.Fprint(c, "250 ok\r\n")
			case strings.HasPrefix(line, "RCPT TO:<BOB@"):
				fmt.Fprint(c, "250-fine\r\n250 ok\r\n")
			case strings.HasPrefix(line, "RCPT"):
				fmt.Fprint(c, "553 no such user\r\n")
			case strings.HasPrefix(line, "QUIT"):
				fmt.Fprint(c, "221 bye\r\n")
				return
			default:
				fmt.Fprint(c, "500 what?\r\n")
			}
		}
	})
	flood := scripted(t, "127.0.0.3", func(c net.Conn) {
		fmt.Fprint(c, "220 mx.test\r\n")
		line := "250-" + strings.Repeat("X", 1000) + "\r\n"
		for i := 0; i < 1000; i++ {
			if _, err := fmt.Fprint(c, line); err != nil {
				return
			}
		}
	})
	// A server that greets, then refuses whoever we are.
	noHello := scripted(t, "127.0.0.3", func(c net.Conn) {
		fmt.Fprint(c, "220 mx.test\r\n")
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			fmt.Fprint(c, "554 5.7.1 go away\r\n")
		}
	})
	hang := silent(t, "127.0.0.4")
	l := listen(t, "127.0.0.5")
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		name, addr, to string
		timeout        time.Duration
		status         verdict.Status
		reason         string
	}{
		{"known user", known.addr, "alice@example.test", 0, verdict.Pass, "250"},
		{"unknown user", known.addr, "bob@example.test", 0, verdict.Fail, "550 <bob@example.test>: Recipient address rejected: 5.1.1 User unknown in local recipient table"},
		{"known over TLS", tlsServer.addr, "alice@example.test", 0, verdict.Pass, ""},
		{"unknown over TLS", tlsServer.addr, "bob@example.test", 0, verdict.Fail, "5.1.1 User unknown"},
		{"catch-all", catchAll.addr, "anyone@example.test", 0, verdict.Neutral, "catch-all"},
		{"5xx to MAIL", mail550.addr, "alice@example.test", 0, verdict.TempError, "MAIL FROM:<> answered 550 5.7.1 we refuse bounces"},
		{"4xx to RCPT", rcpt450.addr, "alice@example.test", 0, verdict.TempError, "450 4.2.0 mailbox busy"},
		{"greylisted", greylisting.addr, "alice@example.test", 0, verdict.TempError, "451 4.7.1"},
		{"421 banner", busy, "alice@example.test", 0, verdict.TempError, "the banner answered 421 mx.test too busy 4.3.2 try later"},
		{"554 banner", refuse, "alice@example.test", 0, verdict.TempError, "554 5.7.1"},
		{"not SMTP", garbage, "alice@example.test", 0, verdict.TempError, "malformed SMTP reply"},
		{"closes at once", closing, "alice@example.test", 0, verdict.TempError, "connection closed"},
		{"HELO only, known", heloOnly, "bob@example.test", 0, verdict.Pass, "250 fine ok"},
		{"HELO only, unknown", heloOnly, "carol@example.test", 0, verdict.Fail, "553 no such user"},
		{"EHLO and HELO refused", noHello, "alice@example.test", 0, verdict.TempError, "EHLO answered 554 5.7.1 go away"},
		{"endless EHLO reply", flood, "alice@example.test", 0, verdict.TempError, "too long"},
		{"never answers", hang, "alice@example.test", 300 * time.Millisecond, verdict.TempError, "timed out"},
		{"refused", closed, "alice@example.test", 0, verdict.TempError, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Callout{HELO: "verifier.test", Route: route(tt.addr), Timeout: tt.timeout}
			start := time.Now()
			res := c.Verify(context.Background(), tt.to)
			if res.Status != tt.status || !strings.Contains(res.Reason, tt.reason) || res.Check != Name || res.Domain != "example.test" {
				t.Errorf("got %v %q", res.Status, res.Reason)
			}
			if tt.timeout > 0 && time.Since(start) > tt.timeout+time.Second {
				t.Errorf("took %v, timeout %v", time.Since(start), tt.timeout)
			}
			if verdict.Printable(res.Reason) != res.Reason {
				t.Errorf("reason not printable: %q", res.Reason)
			}
		})
	}
	// A probe never delivers: no server saw DATA (goSession.Data fails
	// the test server's message, and the scripted ones answer 500), and
	// the TLS server was probed under TLS.
	o := (&Callout{HELO: "verifier.test"}).dialogue(context.Background(), "mx.test", netip.MustParseAddrPort(tlsServer.addr), "alice@example.test", "", true)
	if !o.tls || o.status != verdict.Pass {
		t.Errorf("TLS probe: %+v", o)
	}
}

// TestCalloutSmtpSink probes Postfix's smtp-sink in its configurations: a
// catch-all, one refusing RCPT, one refusing MAIL, one without pipelining
// and one without ESMTP.
func TestCalloutSmtpSink(t *testing.T) {
	tests := []struct {
		opts   []string
		status verdict.Status
		reason string
	}{
		{nil, verdict.Neutral, "catch-all"},
		{[]string{"-p"}, verdict.Neutral, "catch-all"},
		{[]string{"-e"}, verdict.Neutral, "catch-all"},
		{[]string{"-f", "RCPT"}, verdict.Fail, "RCPT TO:<alice@example.test> answered 5"},
		{[]string{"-r", "RCPT"}, verdict.TempError, "answered 4"},
		{[]string{"-f", "MAIL"}, verdict.TempError, "MAIL FROM:<> answered 5"},
		{[]string{"-Q", "CONNECT"}, verdict.TempError, "421"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.opts, " "), func(t *testing.T) {
			addr := smtpSink(t, "127.0.0.6", tt.opts...)
			c := &Callout{HELO: "verifier.test", Route: route(addr)}
			res := c.Verify(context.Background(), "alice@example.test")
			if res.Status != tt.status || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("got %v %q", res.Status, res.Reason)
			}
		})
	}
}

const mxZone = `
$ORIGIN test.
example       MX 20 mx.example
example       MX 10 down.example
mx.example    A  127.0.0.2
down.example  A  127.0.0.7
implicit      A  127.0.0.2
nullmx        MX 0 .
mxfail        MX 10 mx.example
loop          MX 10 localhost.loop
localhost.loop A 127.0.0.1
private       MX 10 mx.private
mx.private    A  10.1.2.3
lost          MX 10 nowhere.lost
`

// TestCalloutMX: the MX hosts in order of preference, the next when one
// does not answer; the domain's own address without MX; the DNS answers
// that end a probe before it starts.
func TestCalloutMX(t *testing.T) {
	g := (&goServer{users: map[string]bool{"alice@example.test": true, "alice@implicit.test": true}}).start(t, "127.0.0.2", false)
	_, port := hostPort(g.addr)
	r := resolvertest.MustNew(mxZone)
	r.SetFaultType("mxfail.test", dns.TypeMX, resolvertest.ServFail)

	tests := []struct {
		to        string
		nonGlobal bool
		status    verdict.Status
		reason    string
	}{
		{"alice@example.test", true, verdict.Pass, "mx.example.test[127.0.0.2]"},
		{"bob@example.test", true, verdict.Fail, "answered 550"},
		{"alice@implicit.test", true, verdict.Pass, "implicit.test[127.0.0.2]"},
		{"alice@nullmx.test", true, verdict.Fail, "null MX"},
		{"alice@nowhere.test", true, verdict.Fail, "no MX or address records"},
		{"alice@mxfail.test", true, verdict.TempError, "DNS failure"},
		{"alice@lost.test", true, verdict.TempError, "nowhere.lost.test"},
		// Loopback and private addresses in the DNS are never probed.
		{"alice@loop.test", false, verdict.TempError, "not probing localhost.loop.test at 127.0.0.1"},
		{"alice@private.test", false, verdict.TempError, "not probing mx.private.test at 10.1.2.3"},
		{"alice@example.test", false, verdict.TempError, "not a global address"},
	}
	for _, tt := range tests {
		c := &Callout{Resolver: r, HELO: "verifier.test", Port: port, NonGlobal: tt.nonGlobal}
		res := c.Verify(context.Background(), tt.to)
		if res.Status != tt.status || !strings.Contains(res.Reason, tt.reason) {
			t.Errorf("%s: got %v %q", tt.to, res.Status, res.Reason)
		}
	}
}

func TestCalloutAllowed(t *testing.T) {
	c := &Callout{}
	st := c.init()
	st.self = func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("203.0.113.25")} }
	for ip, want := range map[string]bool{
		"192.0.2.1": true, "2001:db8::1": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.1.1": false, "192.168.1.1": false,
		"169.254.1.1": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"224.0.0.1": false, "203.0.113.25": false,
	} {
		if got := c.allowed(st, netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: allowed %v", ip, got)
		}
	}
}

func TestCalloutNothingToVerify(t *testing.T) {
	c := &Callout{Route: func(string) []string { t.Fatal("probed"); return nil }}
	for _, a := range []string{"", "<>", "joe@[192.0.2.1]", "no-at-sign", "a b@example.org", "j\xc3\xb6@example.org", "joe@bad..example.org", "<a>b@example.org"} {
		if res := c.Verify(context.Background(), a); res.Status != verdict.None || res.Reason == "" {
			t.Errorf("%q: %+v", a, res)
		}
	}
}

// TestCalloutCache: a result is cached, and the second session asks no
// probe; a TempError is not cached unless TempTTL says so; expired
// entries are probed again.
func TestCalloutCache(t *testing.T) {
	g := (&goServer{users: map[string]bool{"alice@example.test": true}}).start(t, "127.0.0.2", false)
	cache := NewMemoryCache()
	c := &Callout{Route: route(g.addr), Cache: cache}
	ctx := context.Background()
	for i, want := range []verdict.Status{verdict.Pass, verdict.Pass} {
		if res := c.Verify(ctx, "alice@Example.TEST"); res.Status != want || (i == 1) != strings.HasPrefix(res.Reason, "cached: ") {
			t.Errorf("%d: %+v", i, res)
		}
	}
	for i := 0; i < 2; i++ {
		if res := c.Verify(ctx, "bob@example.test"); res.Status != verdict.Fail {
			t.Errorf("bob %d: %+v", i, res)
		}
	}
	if n := g.sessions.Load(); n != 2 {
		t.Errorf("%d probes, want 2", n)
	}
	e, ok, _ := cache.Get(ctx, "bob@example.test")
	if !ok || e.Status != verdict.Fail || time.Until(e.Expires) < DefaultNegativeTTL-time.Minute || time.Until(e.Expires) > DefaultNegativeTTL {
		t.Errorf("negative entry %+v", e)
	}
	e, _, _ = cache.Get(ctx, "alice@example.test")
	if time.Until(e.Expires) < DefaultPositiveTTL-time.Minute {
		t.Errorf("positive entry %+v", e)
	}

	// Expired: probed again.
	cache.Put(ctx, "alice@example.test", Entry{Status: verdict.Fail, Reason: "old", Expires: time.Now().Add(-time.Second)})
	if res := c.Verify(ctx, "alice@example.test"); res.Status != verdict.Pass || strings.HasPrefix(res.Reason, "cached") {
		t.Errorf("expired: %+v", res)
	}

	// TempError: not cached by default, cached for TempTTL on request.
	hang := silent(t, "127.0.0.4")
	for _, ttl := range []time.Duration{0, time.Minute} {
		cache := NewMemoryCache()
		c := &Callout{Route: route(hang), Cache: cache, Timeout: 100 * time.Millisecond, TempTTL: ttl}
		c.Verify(ctx, "alice@example.test")
		if _, ok, _ := cache.Get(ctx, "alice@example.test"); ok != (ttl > 0) {
			t.Errorf("TempTTL %v: cached %v", ttl, ok)
		}
	}
}

// TestCalloutShared: 100 sessions verifying one address at once make one
// probe, and all get its result.
func TestCalloutShared(t *testing.T) {
	g := &goServer{users: map[string]bool{"alice@example.test": true}, delay: 200 * time.Millisecond}
	g.start(t, "127.0.0.2", false)
	c := &Callout{Route: route(g.addr)}
	var wg sync.WaitGroup
	results := make([]verdict.Result, 100)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Verify(context.Background(), "alice@example.test")
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.Status != verdict.Pass {
			t.Fatalf("%d: %+v", i, res)
		}
	}
	if n := g.sessions.Load(); n != 1 {
		t.Errorf("%d probes, want 1", n)
	}
	if st := c.init(); st.probes != 1 || len(st.flights) != 0 {
		t.Errorf("probes %d, flights %d", st.probes, len(st.flights))
	}

	// A caller that gives up does not cancel the probe the others wait for.
	g.delay = 300 * time.Millisecond
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var late verdict.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(10 * time.Millisecond)
		late = c.Verify(context.Background(), "bob@example.test")
	}()
	if res := c.Verify(short, "bob@example.test"); res.Status != verdict.TempError {
		t.Errorf("impatient caller: %+v", res)
	}
	wg.Wait()
	if late.Status != verdict.Fail {
		t.Errorf("patient caller: %+v", late)
	}
}

// TestCalloutLimits: at most PerDomain probes of a domain at once, and no
// more than Burst (then Rate a second) started.
func TestCalloutLimits(t *testing.T) {
	g := &goServer{catchAll: true, block: make(chan struct{})}
	g.start(t, "127.0.0.2", false)
	c := &Callout{Route: route(g.addr), PerDomain: 2, Burst: 5, Rate: 0.001, NoCatchAll: true}
	var wg sync.WaitGroup
	results := make([]verdict.Result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Verify(context.Background(), fmt.Sprintf("user%d@example.test", i))
		}()
	}
	// The limiter lets two probes in; the three others that got a token
	// wait, the last three were over the rate.
	time.Sleep(300 * time.Millisecond)
	if n := g.sessions.Load(); n != 2 {
		t.Errorf("%d probes in flight, want 2", n)
	}
	close(g.block)
	wg.Wait()
	var pass, rate int
	for _, res := range results {
		switch {
		case res.Status == verdict.Pass:
			pass++
		case res.Status == verdict.TempError && strings.Contains(res.Reason, "rate"):
			rate++
		default:
			t.Errorf("%+v", res)
		}
	}
	if pass != 5 || rate != 3 || g.sessions.Load() != 5 {
		t.Errorf("pass %d, over the rate %d, probes %d", pass, rate, g.sessions.Load())
	}
	// Another domain has its own budget.
	c.Route = route(g.addr)
	if res := c.Verify(context.Background(), "user@other.test"); res.Status != verdict.Pass {
		t.Errorf("other domain: %+v", res)
	}
}

func TestLimiterRefill(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, 2, 3)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	take := func() bool {
		rel, err := l.acquire(ctx, "example.org")
		if err == nil {
			rel()
		}
		return err == nil
	}
	for i := 0; i < 3; i++ {
		if !take() {
			t.Fatalf("burst %d refused", i)
		}
	}
	if take() {
		t.Fatal("over the burst allowed")
	}
	now = now.Add(500 * time.Millisecond) // one token at 2 a second
	if !take() || take() {
		t.Fatal("refill wrong")
	}
	// Idle domains are forgotten, so many domains do not grow the map
	// past its bound.
	now = now.Add(time.Hour)
	for i := 0; i < 3*maxIdleDomains; i++ {
		rel, err := l.acquire(ctx, fmt.Sprintf("d%d.example", i))
		if err == nil {
			rel()
		}
		now = now.Add(10 * time.Second)
	}
	if len(l.domains) > maxIdleDomains {
		t.Errorf("%d domains kept", len(l.domains))
	}
}
