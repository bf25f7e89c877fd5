package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"
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
// flagpolicy, answering DNS offline from the demo zone. The milter learns
// the client's address from the MTA, so the tests can use the zone's
// documentation addresses.
func startMain(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{
		"-listen", "127.0.0.1:0", "-zone", "../testdata/demo.zone", "-hostname", "mx.example.net",
		"-local", "example.net", "-dnsbl", "bl.example:6", "-v",
	}, extra...)
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
			t.Logf("milter log:\n%s", logs.String())
		}
	})
	return addr
}

// demoMessage reads a message of examples/testdata with CRLF line ends,
// as it travels.
func demoMessage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
}

func TestEndToEndSignedAccepted(t *testing.T) {
	addr := startMain(t)
	m := connect(t, addr, "192.0.2.10", "mail.example.org")
	msg := "Authentication-Results: mx.example.net; dmarc=pass header.from=example.org\r\n" + demoMessage(t, "signed.eml")
	mods, act := m.send("alice@example.org", []string{"bob@example.net"}, msg)
	if act.Code != milter.ActAccept {
		t.Fatalf("action %c %d %q, want accept", act.Code, act.SMTPCode, act.SMTPText)
	}
	var ar string
	var deleted int
	for _, mod := range mods {
		switch {
		case mod.Code == milter.ActInsertHeader && mod.HeaderName == "Authentication-Results":
			ar = mod.HeaderValue
		case mod.Code == milter.ActChangeHeader && mod.HeaderValue == "":
			deleted++
		}
	}
	for _, want := range []string{" mx.example.net;", "iprev=pass", "spf=pass", "dkim=pass", "header.d=example.org", "dmarc=pass"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Authentication-Results lacks %q: %q", want, ar)
		}
	}
	if deleted != 1 {
		t.Errorf("%d forged fields deleted, want 1", deleted)
	}
}

// TestEndToEndForwarded: a signed message relayed by a host its SPF does
// not name still passes DMARC through its aligned DKIM signature.
func TestEndToEndForwarded(t *testing.T) {
	addr := startMain(t)
	m := connect(t, addr, "198.51.100.25", "mx.example.net.forwarder.example")
	mods, act := m.send("alice@example.org", []string{"bob@example.net"}, demoMessage(t, "signed.eml"))
	if act.Code != milter.ActAccept {
		t.Fatalf("action %c %d %q, want accept: DKIM aligns", act.Code, act.SMTPCode, act.SMTPText)
	}
	if len(mods) == 0 || !strings.Contains(mods[0].HeaderValue, "dmarc=pass") {
		t.Errorf("modifications %+v, want dmarc=pass", mods)
	}
}

func TestEndToEndForgedRefused(t *testing.T) {
	addr := startMain(t)
	m := connect(t, addr, "203.0.113.66", "example.org")
	mods, act := m.send("alice@example.org", []string{"bob@example.net"}, demoMessage(t, "forged.eml"))
	if act.Code != milter.ActReplyCode || act.SMTPCode != 550 || !strings.HasPrefix(act.SMTPText, "5.7.") {
		t.Errorf("action %c %d %q, want a 550 5.7.x reply", act.Code, act.SMTPCode, act.SMTPText)
	}
	if len(mods) != 0 {
		t.Errorf("modifications on a refused message: %+v", mods)
	}
}

func TestEndToEndGreylist(t *testing.T) {
	addr := startMain(t, "-greylist", "memory", "-grey-delay", "1s")
	m := connect(t, addr, "192.0.2.10", "mail.example.org")
	_, act := m.send("alice@example.org", []string{"bob@example.net"}, demoMessage(t, "signed.eml"))
	if act.Code != milter.ActReplyCode || act.SMTPCode != 451 || !strings.HasPrefix(act.SMTPText, "4.7.1 ") {
		t.Fatalf("first attempt: action %c %d %q, want 451 4.7.1", act.Code, act.SMTPCode, act.SMTPText)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, act := m.send("alice@example.org", []string{"bob@example.net"}, demoMessage(t, "signed.eml")); act.Code != milter.ActAccept {
		t.Errorf("retry: action %c %d %q, want accept", act.Code, act.SMTPCode, act.SMTPText)
	}
}
