package main

import (
	"bufio"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/examples/internal/flagpolicy"
	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// script is an SMTP session: each command with the reply it gets.
var script = []string{
	"EHLO mail.example.org\r\n",
	"MAIL FROM:<ceo@forged.example>\r\n", // SPF fail, with -spf-reject: 550 5.7.23
	"MAIL FROM:<alice@example.org>\r\n",  // a good MAIL after a refused one
	"RCPT TO:<victim@example.com>\r\n",   // relay: 554 5.7.1
	"RCPT TO:<bob@example.net>\r\n",
	"RSET\r\n",
	"MAIL FROM:<alice@example.org>\r\n",
	"RCPT TO:<bob@example.net>\r\n",
	"DATA\r\n",
	" ; dkim=pass header.d=paypal.com\r\n" + cleanMessage + ".\r\n", // 550 5.6.0
	"MAIL FROM:<alice@example.org>\r\n",
	"RCPT TO:<bob@example.net>\r\n",
	"DATA\r\n",
	"X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass\r\n" + cleanMessage + ".\r\n", // 550 5.6.0
	"MAIL FROM:<alice@example.org>\r\n",
	"RCPT TO:<bob@example.net>\r\n",
	"DATA\r\n",
	cleanMessage + ".\r\n",
	"BDAT 4 LAST\r\nabcd", // 502: no CHUNKING
	"QUIT\r\n",
}

// play runs the script against addr and returns every reply line.
func play(t *testing.T, addr string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	var replies []string
	readReply := func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d replies: %v", len(replies), err)
			}
			replies = append(replies, strings.TrimRight(l, "\r\n"))
			if len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	readReply() // banner
	for _, cmd := range script {
		if _, err := io.WriteString(c, cmd); err != nil {
			t.Fatal(err)
		}
		readReply()
	}
	return replies
}

// TestSameRepliesAsGosmtp: the same scripted session gets the same replies
// from smtpd as from a bare go-smtp server wrapped by gosmtp with the same
// policy: smtpd adds only its Maildir.
func TestSameRepliesAsGosmtp(t *testing.T) {
	addr, maildir, _ := startMain(t, "-spf-reject")
	viaSmtpd := play(t, addr)

	// The bare server: the same policy flags, a backend that discards.
	dns := resolvertest.MustNewServer(resolvertest.MustNew(e2eZone))
	t.Cleanup(dns.Close)
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	pc := flagpolicy.Register(fs)
	if err := fs.Parse([]string{"-hostname", "mx.example.net", "-dns", dns.Addr, "-local", "example.net", "-nonglobal", "-timeout", "5s", "-spf-reject"}); err != nil {
		t.Fatal(err)
	}
	p, _, closePolicy, err := pc.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer closePolicy()
	o := &gosmtp.Options{Hostname: "mx.example.net"}
	s := smtp.NewServer(gosmtp.Wrap(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return discard{}, nil }), p, o))
	s.Domain = "mx.example.net"
	s.MaxMessageBytes = 10 << 20
	s.MaxRecipients = 100
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(gosmtp.Listen(ln, p, o))
	defer s.Close()
	viaGosmtp := play(t, ln.Addr().String())

	if strings.Join(viaSmtpd, "\n") != strings.Join(viaGosmtp, "\n") {
		t.Errorf("replies differ:\nsmtpd:\n%s\n\ngosmtp:\n%s", strings.Join(viaSmtpd, "\n"), strings.Join(viaGosmtp, "\n"))
	}
	for _, want := range []string{"550 5.7.23 ", "554 5.7.1 ", "550 5.6.0 ", "502 5.5.1 "} {
		if !strings.Contains(strings.Join(viaSmtpd, "\n"), "\n"+want) {
			t.Errorf("no %q reply in the session:\n%s", want, strings.Join(viaSmtpd, "\n"))
		}
	}
	if n := len(delivered(t, maildir)); n != 1 {
		t.Errorf("smtpd delivered %d messages, want 1", n)
	}
}

type discard struct{}

func (discard) Mail(string, *smtp.MailOptions) error { return nil }
func (discard) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (discard) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (discard) Reset()        {}
func (discard) Logout() error { return nil }

// TestMonitorMode: a session that would be refused at every stage gets
// 2xx everywhere with -monitor, lands in the inbox, and the metrics say
// what would have happened.
func TestMonitorMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	addr, maildir, _ := startMain(t, "-monitor", "-metrics", metricsAddr, "-dnsbl", "bl.example:20", "-spf-reject")
	forged := strings.Replace(cleanMessage, "alice@example.org", "ceo@forged.example", 1)
	// connect: listed (score 20 >= 15); MAIL: SPF fail; RCPT: relay;
	// DATA: DMARC p=reject.
	if err := send(addr, "mail.example.org", "ceo@forged.example", []string{"victim@example.com"}, forged); err != nil {
		t.Fatalf("monitor mode refused: %v", err)
	}
	if n := len(delivered(t, maildir)); n != 1 {
		t.Errorf("%d messages in the inbox, want 1", n)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, stage := range []string{"connect", "helo", "mail", "rcpt", "data"} {
		for _, want := range []string{
			`mtaguard_decisions_total{action="accept",stage="` + stage + `"} 1`,
			`mtaguard_decisions_would_total{action="reject",stage="` + stage + `"} 1`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	}
	for _, want := range []string{`mtaguard_check_results_total{check="spf",status="fail"} 1`, `mtaguard_check_demands_total{action="reject",check="relay"} 1`,
		`mtaguard_check_duration_seconds_count{check="dnsbl"} 1`, `mtaguard_dns_lookups_total`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", b)
	}
}

// TestCapsAndMemoryBudget: smtpd's connection caps answer 421 4.7.0, and a
// message over the memory budget is deferred with 452 4.3.1, not held.
func TestCapsAndMemoryBudget(t *testing.T) {
	addr, maildir, _ := startMain(t, "-max-conns-per-client", "2", "-memory-budget", "65536", "-spool-bytes", "16384", "-spool-dir", t.TempDir())
	var conns []net.Conn
	banner := func() string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		return l
	}
	for i := range 2 {
		if b := banner(); !strings.HasPrefix(b, "220 ") {
			t.Fatalf("connection %d: %q", i+1, b)
		}
	}
	if b := banner(); !strings.HasPrefix(b, "421 4.7.0 mx.example.net ") {
		t.Errorf("third connection from one client: %q, want 421 4.7.0", b)
	}
	for _, c := range conns {
		c.Close()
	}
	big := cleanMessage + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 2000)
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// The places are given back as the server closes the connections.
		err = send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, big)
		if code, _ := reply(err); code != 421 || time.Now().After(deadline) {
			break
		}
	}
	wantReply(t, err, 452, "4.3.1")
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Errorf("a small message after the big one: %v", err)
	}
	if n := len(delivered(t, maildir)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}
