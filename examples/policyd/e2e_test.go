package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMain runs the command as main does, with the real checks built by
// flagpolicy. Postfix tells the client's address in the request, so the
// tests use the demo zone's documentation addresses.
func startMain(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"-listen", "127.0.0.1:0", "-hostname", "mx.example.net",
		"-local", "example.net", "-dnsbl", "bl.example:6", "-v"}, extra...)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &logs, func(a net.Addr) { ready <- a }) }()
	var addr string
	select {
	case a := <-ready:
		addr = a.String()
	case err := <-done:
		t.Fatalf("run %q: %v\n%s", args, err, logs.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("policyd log:\n%s", logs.String())
		}
	})
	return addr
}

func TestEndToEnd(t *testing.T) {
	cl := dial(t, "tcp", startMain(t, "-zone", "../testdata/demo.zone", "-greylist", "memory", "-grey-delay", "1s"))

	if got := cl.ask("recipient", "victim@example.com"); !strings.HasPrefix(got, "554 5.7.1 ") {
		t.Errorf("relay attempt: %q, want 554 5.7.1", got)
	}
	if got := cl.ask(); !strings.HasPrefix(got, "DEFER_IF_PERMIT 4.7.1 ") || !strings.Contains(got, greylist.Name) {
		t.Errorf("new sender: %q, want DEFER_IF_PERMIT 4.7.1 greylisted", got)
	}
	time.Sleep(1100 * time.Millisecond)
	got := cl.ask()
	for _, want := range []string{"PREPEND Authentication-Results: mx.example.net;", "iprev=pass", "spf=pass", "smtp.mailfrom=alice@example.org"} {
		if !strings.Contains(got, want) {
			t.Errorf("retry after the delay: %q lacks %q", got, want)
		}
	}

	// The bot on a listed dynamic address, forging a HELO name, is
	// refused from the first stage that adds enough to the score.
	got = cl.ask("client_address", "203.0.113.66", "client_name", "unknown", "helo_name", "example.org", "instance", "bot")
	if !strings.HasPrefix(got, "550 5.7.1 ") || !strings.Contains(got, dnsbl.Name) {
		t.Errorf("listed bot: %q, want 550 5.7.1 naming dnsbl", got)
	}
}

// TestEndToEndDNSOutage: when the DNS fails, no request is refused for good.
func TestEndToEndDNSOutage(t *testing.T) {
	zone := `$TTL 300
example.org.       SOA  ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
example.org.       TXT  "v=spf1 ip4:192.0.2.0/24 -all"
`
	r := resolvertest.MustNew(zone)
	for _, name := range []string{"example.org.", "10.2.0.192.in-addr.arpa.", "mail.example.org.", "10.2.0.192.bl.example."} {
		r.SetFault(name, resolvertest.ServFail)
	}
	dns := resolvertest.MustNewServer(r)
	t.Cleanup(dns.Close)
	cl := dial(t, "tcp", startMain(t, "-dns", dns.Addr))
	for _, state := range []string{"CONNECT", "EHLO", "MAIL", "RCPT", "DATA"} {
		got := cl.ask("protocol_state", state)
		if strings.HasPrefix(got, "5") || strings.HasPrefix(got, "REJECT") {
			t.Errorf("%s during a DNS outage: %q", state, got)
		}
		t.Logf("%s: %s", state, got)
	}
}
