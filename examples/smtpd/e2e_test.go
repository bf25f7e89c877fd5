package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// e2eZone is the DNS of the end-to-end tests. Test clients connect from
// 127.0.0.1, so the well-run sender example.org publishes it (the server
// runs with -nonglobal to look loopback addresses up).
const e2eZone = `$TTL 300
example.org.             SOA  ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
example.org.             MX   10 mail.example.org.
example.org.             TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc.example.org.      TXT  "v=DMARC1; p=reject"
mail.example.org.        A    127.0.0.1
1.0.0.127.in-addr.arpa.  PTR  mail.example.org.
example.net.             SOA  ns.example.net. hostmaster.example.net. 1 7200 3600 1209600 300
example.net.             MX   10 mx.example.net.
mx.example.net.          A    192.0.2.25
example.com.             SOA  ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
; forged.example sends from 192.0.2.99 only and asks receivers to reject
; anything else.
forged.example.          SOA  ns.forged.example. hostmaster.forged.example. 1 7200 3600 1209600 300
forged.example.          MX   10 mail.forged.example.
forged.example.          TXT  "v=spf1 ip4:192.0.2.99 -all"
mail.forged.example.     A    192.0.2.99
_dmarc.forged.example.   TXT  "v=DMARC1; p=reject"
; outage.example's name servers fail (the tests set the faults).
outage.example.          SOA  ns.outage.example. hostmaster.outage.example. 1 7200 3600 1209600 300
outage.example.          MX   10 mail.outage.example.
outage.example.          TXT  "v=spf1 ip4:127.0.0.1 -all"
; bl.example lists 127.0.0.1 (used with -dnsbl bl.example:N).
bl.example.              SOA  ns.bl.example. hostmaster.bl.example. 1 7200 3600 1209600 300
1.0.0.127.bl.example.    A    127.0.0.2
`

// syncBuffer is a log destination the server and the test share.
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
// flagpolicy, against a DNS server on loopback answering from e2eZone. The
// returned resolver takes faults.
func startMain(t *testing.T, extra ...string) (addr, maildir string, r *resolvertest.Resolver) {
	t.Helper()
	addr, maildir, r, _ = startMainLog(t, extra...)
	return addr, maildir, r
}

// startMainLog is startMain that also returns the server's log.
func startMainLog(t *testing.T, extra ...string) (addr, maildir string, r *resolvertest.Resolver, logs *syncBuffer) {
	t.Helper()
	r = resolvertest.MustNew(e2eZone)
	r.SetTimeoutAfter(50 * time.Millisecond)
	dns := resolvertest.MustNewServer(r)
	t.Cleanup(dns.Close)
	maildir = t.TempDir()
	args := append([]string{
		"-listen", "127.0.0.1:0", "-hostname", "mx.example.net", "-maildir", maildir,
		"-dns", dns.Addr, "-local", "example.net", "-nonglobal", "-timeout", "5s", "-v",
	}, extra...)
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, logs, func(a net.Addr) { ready <- a }) }()
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
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return addr, maildir, r, logs
}

func TestEndToEndAccept(t *testing.T) {
	addr, maildir, _ := startMain(t)
	msg := "Authentication-Results: mx.example.net; dkim=pass header.d=example.org\r\n" +
		"Authentication-Results: relay.example.org; spf=pass smtp.mailfrom=alice@example.org\r\n" +
		cleanMessage
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, msg); err != nil {
		t.Fatal(err)
	}
	msgs := delivered(t, maildir)
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(msgs))
	}
	m := msgs[0]
	ar, _, _ := strings.Cut(m[strings.Index(m, "Authentication-Results: mx.example.net;"):], "\r\nFrom:")
	for _, want := range []string{"iprev=pass", "spf=pass", "smtp.mailfrom=alice@example.org", "dmarc=pass", "header.from=example.org"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, ar)
		}
	}
	if strings.Contains(m, "dkim=pass header.d=example.org") {
		t.Errorf("forged Authentication-Results kept:\n%s", m)
	}
	if !strings.Contains(m, "Authentication-Results: relay.example.org; spf=pass") {
		t.Errorf("another host's Authentication-Results removed:\n%s", m)
	}
	if !strings.Contains(m, "Received: from mail.example.org (mail.example.org [127.0.0.1])") {
		t.Errorf("Received field lacks the verified client name:\n%s", m)
	}
}

func TestEndToEndRelay(t *testing.T) {
	addr, maildir, _ := startMain(t)
	err := send(addr, "mail.example.org", "alice@example.org", []string{"victim@example.com"}, cleanMessage)
	wantReply(t, err, 554, "5.7.1")
	if msgs := delivered(t, maildir); len(msgs) != 0 {
		t.Errorf("relay attempt delivered")
	}
}

func TestEndToEndGreylist(t *testing.T) {
	addr, maildir, _ := startMain(t, "-greylist", "memory", "-grey-delay", "1s")
	err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage)
	wantReply(t, err, 451, "4.7.1")
	// Too early: still deferred.
	err = send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage)
	wantReply(t, err, 451, "4.7.1")
	time.Sleep(1100 * time.Millisecond)
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatalf("retry after the delay: %v", err)
	}
	if msgs := delivered(t, maildir); len(msgs) != 1 {
		t.Errorf("%d messages delivered, want 1", len(msgs))
	}
}

func TestEndToEndSPFAndDMARC(t *testing.T) {
	forged := strings.Replace(cleanMessage, "alice@example.org", "ceo@forged.example", 1)

	// By default an SPF fail only scores; the From domain's DMARC policy
	// then refuses the message at the end of DATA.
	addr, maildir, _ := startMain(t)
	err := send(addr, "mail.example.org", "ceo@forged.example", []string{"bob@example.net"}, forged)
	wantReply(t, err, 550, "5.7.26")
	if msgs := delivered(t, maildir); len(msgs) != 0 {
		t.Errorf("DMARC-rejected message delivered")
	}

	// With -spf-reject the fail refuses MAIL FROM.
	addr, _, _ = startMain(t, "-spf-reject")
	err = send(addr, "mail.example.org", "ceo@forged.example", []string{"bob@example.net"}, forged)
	wantReply(t, err, 550, "5.7.23")
}

// TestEndToEndDNSOutage: when the DNS fails, nothing is refused for good,
// and the message is deferred (flagpolicy's -defer-dns, on by default)
// rather than accepted unchecked.
func TestEndToEndDNSOutage(t *testing.T) {
	for _, fault := range []resolvertest.Fault{resolvertest.ServFail, resolvertest.Refused, resolvertest.Timeout} {
		t.Run(fault.String(), func(t *testing.T) {
			addr, _, r := startMain(t, "-timeout", "1s")
			for _, name := range []string{"outage.example.", "_dmarc.outage.example.", "mail.outage.example.",
				"1.0.0.127.in-addr.arpa.", "mail.example.org."} {
				r.SetFault(name, fault)
			}
			msg := strings.Replace(cleanMessage, "alice@example.org", "bob@outage.example", 1)
			err := send(addr, "mail.example.org", "bob@outage.example", []string{"bob@example.net"}, msg)
			code, text := reply(err)
			if err != nil && code == 0 {
				t.Fatal(err)
			}
			if code < 400 || code >= 500 {
				t.Errorf("DNS %s answered %d %s: a DNS failure must defer (4xx), never refuse for good or pass unchecked", fault, code, text)
			}
			t.Logf("DNS %s: %d %s", fault, code, text)
		})
	}
}

func TestEndToEndQuarantine(t *testing.T) {
	// The HELO name is ours, from outside: a forgery that scores, not
	// enough to reject with -reject 100.
	addr, maildir, _ := startMain(t, "-quarantine", "1", "-reject", "100")
	if err := send(addr, "mx.example.net", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatal(err)
	}
	junk := delivered(t, filepath.Join(maildir, ".Junk"))
	if len(junk) != 1 || !strings.Contains(junk[0], "X-Spam-Flag: YES") {
		t.Errorf("quarantine: %q", junk)
	}
}
