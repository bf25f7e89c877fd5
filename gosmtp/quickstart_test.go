package gosmtp_test

import (
	"bytes"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// quickstartZone is the DNS of the quick-start test: example.org sends
// from 127.0.0.1; forged.example does not.
const quickstartZone = `$TTL 300
example.org.             SOA  ns.example.org. hostmaster.example.org. 1 7200 3600 1209600 300
example.org.             MX   10 mail.example.org.
example.org.             TXT  "v=spf1 ip4:127.0.0.1 -all"
_dmarc.example.org.      TXT  "v=DMARC1; p=reject"
mail.example.org.        A    127.0.0.1
forged.example.          SOA  ns.forged.example. hostmaster.forged.example. 1 7200 3600 1209600 300
forged.example.          TXT  "v=spf1 ip4:192.0.2.99 -all"
_dmarc.forged.example.   TXT  "v=DMARC1; p=reject"
`

// quickstart returns the Go program of the README's quick start.
func quickstart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Quick start")
	if !ok {
		t.Fatal("README.md has no Quick start section")
	}
	_, rest, ok = strings.Cut(rest, "```go\npackage main\n")
	if !ok {
		t.Fatal("the Quick start has no Go program")
	}
	code, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the Quick start's Go program does not end")
	}
	return "package main\n" + code
}

// safeBuffer is the output of the program under test.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuickstart builds the README's quick start as it stands and drives it
// over loopback with net/smtp: a refused MAIL followed by a good one, a
// relay refusal, greylisting, RSET between transactions, and acceptance.
func TestQuickstart(t *testing.T) {
	code := quickstart(t)
	if n := strings.Count(code, "\n"); n > 40 {
		t.Errorf("the quick start has %d lines, more than 40", n)
	}
	if testing.Short() {
		t.Skip("builds a program: not in -short mode")
	}
	// Inside the module (testdata is left out of ./... patterns), so that
	// it builds against this tree.
	dir, err := os.MkdirTemp("testdata", "quickstart-")
	if err != nil {
		os.Mkdir("testdata", 0o755)
		if dir, err = os.MkdirTemp("testdata", "quickstart-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "mx")
	if out, err := exec.Command("go", "build", "-o", bin, "./"+dir).CombinedOutput(); err != nil {
		t.Fatalf("the quick start does not build: %v\n%s\n%s", err, out, code)
	}

	dns := resolvertest.MustNewServer(resolvertest.MustNew(quickstartZone))
	t.Cleanup(dns.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out safeBuffer
	cmd := exec.Command(bin, "-listen", addr, "-dns", dns.Addr, "-greylist", "1s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("program output:\n%s", out.String())
		}
	})
	var c *smtp.Client
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = smtp.Dial(addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quick start does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.Close()
	if err := c.Hello("mail.example.org"); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Mail("ceo@forged.example"), 550, "5.7.23")
	if err := c.Mail("alice@example.org"); err != nil {
		t.Fatalf("a good MAIL after a refused one: %v", err)
	}
	wantReply(t, c.Rcpt("victim@example.com"), 554, "5.7.1")
	wantReply(t, c.Rcpt("bob@example.net"), 451, "4.7.1")
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := c.Mail("alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.net"); err != nil {
		t.Fatalf("the retry after the greylisting delay: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, cleanMessage)
	if err := w.Close(); err != nil {
		t.Fatalf("the message: %v", err)
	}
	c.Quit()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "Hi Bob."); {
		if time.Now().After(deadline) {
			t.Fatal("the accepted message was not handed to the backend")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := out.String(); !strings.Contains(got, "Authentication-Results: mx.example.net;") || !strings.Contains(got, "spf=pass") || !strings.Contains(got, "dmarc=pass") {
		t.Errorf("the message lacks our Authentication-Results:\n%s", got)
	}
}
