package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

// check is a test check: fn decides from the session.
type check struct {
	name  string
	stage verdict.Stage
	fn    func(*verdict.Session) verdict.Result
}

func (c check) Name() string         { return c.name }
func (c check) Stage() verdict.Stage { return c.stage }
func (c check) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.fn(s)
}

// relayCheck refuses recipients outside example.net, as relay does.
var relayCheck = check{"relay", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
	if strings.HasSuffix(s.Rcpt, "@example.net") {
		return verdict.Result{Status: verdict.Pass}
	}
	return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Reason: "relay access denied"}
}}

// spfCheck passes every sender and reports it for Authentication-Results.
var spfCheck = check{"spf", verdict.Mail, func(s *verdict.Session) verdict.Result {
	return verdict.Result{Status: verdict.Pass, Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: s.MailFrom}}}
}}

// greylister defers a (from, rcpt) pair the first time it sees it.
type greylister struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *greylister) check() check {
	return check{"greylist", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
		g.mu.Lock()
		defer g.mu.Unlock()
		k := s.MailFrom + " " + s.Rcpt
		if g.seen[k] {
			return verdict.Result{Status: verdict.Pass}
		}
		g.seen[k] = true
		return verdict.Result{Status: verdict.Fail, Action: verdict.TempFail, Code: 451, Enhanced: "4.7.1", Reason: "greylisted, try again later"}
	}}
}

func startServer(t *testing.T, p *verdict.Policy) (addr, maildir string) {
	t.Helper()
	srv := &Server{
		Policy:          p,
		Hostname:        "mx.example.net",
		Maildir:         t.TempDir(),
		MaxMessageBytes: 1 << 16,
		Timeout:         10 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := srv.SMTP()
	done := make(chan error, 1)
	go func() { done <- s.Serve(srv.Listen(ln)) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), srv.Maildir
}

const cleanMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: hello\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

// send runs one SMTP transaction and returns the first refusal.
func send(addr, helo, from string, rcpts []string, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// reply returns the code and text of an SMTP refusal, or 0.
func reply(err error) (int, string) {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg
	}
	return 0, ""
}

func wantReply(t *testing.T, err error, code int, text string) {
	t.Helper()
	got, msg := reply(err)
	if got != code || !strings.Contains(msg, text) {
		t.Fatalf("reply = %d %q (err %v), want %d containing %q", got, msg, err, code, text)
	}
}

// delivered returns the messages in a Maildir folder's new/.
func delivered(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	var msgs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(b))
	}
	return msgs
}

func TestAcceptAddsAuthenticationResults(t *testing.T) {
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}, Quarantine: 6, Reject: 15})
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatal(err)
	}
	msgs := delivered(t, maildir)
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered, want 1", len(msgs))
	}
	m := msgs[0]
	for _, want := range []string{
		"Return-Path: <alice@example.org>\r\n",
		"Received: from mail.example.org (unknown [127.0.0.1])\r\n\tby mx.example.net (mtaguard) with ESMTP\r\n\tfor <bob@example.net>;",
		"Authentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=alice@example.org\r\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, m)
		}
	}
	if !strings.HasSuffix(m, "\r\n"+cleanMessage) {
		t.Errorf("original message not kept intact at the end:\n%s", m)
	}
	if junk := delivered(t, filepath.Join(maildir, ".Junk")); len(junk) != 0 {
		t.Errorf("clean message also filed as junk")
	}
}

func TestForgedAuthenticationResultsRemoved(t *testing.T) {
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{spfCheck}})
	msg := "Authentication-Results: MX.example.net.; spf=pass smtp.mailfrom=ceo@example.net\r\n" +
		"Authentication-Results: (forged)\r\n mx.example.net;\r\n dkim=pass header.d=example.net\r\n" +
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
	if n := strings.Count(m, "Authentication-Results: "); n != 2 {
		t.Errorf("%d Authentication-Results fields, want ours and relay.example.org's:\n%s", n, m)
	}
	for _, gone := range []string{"ceo@example.net", "dkim=pass", "(forged)"} {
		if strings.Contains(m, gone) {
			t.Errorf("forged field with %q kept:\n%s", gone, m)
		}
	}
	if !strings.Contains(m, "Authentication-Results: relay.example.org; spf=pass") {
		t.Errorf("another host's field was removed:\n%s", m)
	}
}

func TestRelayRefused(t *testing.T) {
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{relayCheck}})
	err := send(addr, "mail.example.org", "alice@example.org", []string{"victim@example.com"}, cleanMessage)
	wantReply(t, err, 554, "5.7.1 relay access denied")
	if msgs := delivered(t, maildir); len(msgs) != 0 {
		t.Errorf("relay attempt delivered")
	}
}

// TestRecipientsJudgedSeparately: one refused recipient does not taint the
// next one, and the message goes to the accepted one.
func TestRecipientsJudgedSeparately(t *testing.T) {
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{relayCheck}})
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mail.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org"); err != nil {
		t.Fatal(err)
	}
	wantReply(t, c.Rcpt("victim@example.com"), 554, "relay access denied")
	if err := c.Rcpt("bob@example.net"); err != nil {
		t.Fatalf("good recipient after a refused one: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(cleanMessage))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A second transaction on the same connection starts clean too.
	if err := c.Mail("carol@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.net"); err != nil {
		t.Fatal(err)
	}
	if msgs := delivered(t, maildir); len(msgs) != 1 || !strings.Contains(msgs[0], "for <bob@example.net>") {
		t.Errorf("delivered %q", msgs)
	}
}

func TestGreylistThenAccept(t *testing.T) {
	g := &greylister{seen: map[string]bool{}}
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{g.check()}})
	err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage)
	wantReply(t, err, 451, "4.7.1 greylisted, try again later")
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if msgs := delivered(t, maildir); len(msgs) != 1 {
		t.Errorf("%d messages delivered after retry, want 1", len(msgs))
	}
}

func TestDataRefused(t *testing.T) {
	spfFail := check{"spf", verdict.Data, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 550, Enhanced: "5.7.23", Reason: "192.0.2.1 is not allowed to send for example.org"}
	}}
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{spfFail}})
	err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage)
	wantReply(t, err, 550, "5.7.23 192.0.2.1 is not allowed")
	if msgs := delivered(t, maildir); len(msgs) != 0 {
		t.Errorf("refused message delivered")
	}
}

func TestQuarantine(t *testing.T) {
	suspicious := check{"dnsbl", verdict.Connect, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.Fail, Score: 7, Reason: "listed by bl.example"}
	}}
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{suspicious}, Quarantine: 6, Reject: 15})
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatal(err)
	}
	if msgs := delivered(t, maildir); len(msgs) != 0 {
		t.Errorf("quarantined message in the inbox")
	}
	junk := delivered(t, filepath.Join(maildir, ".Junk"))
	if len(junk) != 1 {
		t.Fatalf("%d messages in .Junk, want 1", len(junk))
	}
	for _, want := range []string{"X-Spam-Flag: YES\r\n", "X-Spam-Status: Yes, score=7.0; OK: dnsbl: listed by bl.example\r\n"} {
		if !strings.Contains(junk[0], want) {
			t.Errorf("quarantined message lacks %q:\n%s", want, junk[0])
		}
	}
}

// TestRcptQuarantine: a recipient-stage quarantine carries to DATA.
func TestRcptQuarantine(t *testing.T) {
	demand := check{"rcpt-demand", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Action: verdict.Quarantine, Reason: "suspicious recipient"}
	}}
	addr, maildir := startServer(t, &verdict.Policy{Checks: []verdict.Check{demand}})
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatal(err)
	}
	if junk := delivered(t, filepath.Join(maildir, ".Junk")); len(junk) != 1 {
		t.Errorf("%d messages in .Junk, want 1", len(junk))
	}
}

func TestDNSOutageIsTemporary(t *testing.T) {
	outage := check{"spf", verdict.Mail, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.TempError, Action: verdict.TempFail, Code: 451, Enhanced: "4.4.3", Reason: "DNS lookup failed: SERVFAIL"}
	}}
	addr, _ := startServer(t, &verdict.Policy{Checks: []verdict.Check{outage}})
	err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage)
	wantReply(t, err, 451, "4.4.3")
}

func TestMessageTooLarge(t *testing.T) {
	addr, maildir := startServer(t, &verdict.Policy{})
	big := cleanMessage + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 1100)
	err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, big)
	wantReply(t, err, 552, "5.3.4")
	if msgs := delivered(t, maildir); len(msgs) != 0 {
		t.Errorf("oversized message delivered")
	}
}

// dialRaw connects and returns the banner line.
func dialRaw(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	banner, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return c, r, banner
}

func TestConnectRefusedBeforeBanner(t *testing.T) {
	blocked := check{"dnsbl", verdict.Connect, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 550, Enhanced: "5.7.1", Reason: "listed by bl.example"}
	}}
	addr, _ := startServer(t, &verdict.Policy{Checks: []verdict.Check{blocked}})
	c, r, banner := dialRaw(t, addr)
	if want := "554 5.7.1 listed by bl.example\r\n"; banner != want {
		t.Fatalf("banner %q, want %q", banner, want)
	}
	c.Write([]byte("EHLO mail.example.org\r\n"))
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "503 5.5.1 ") {
		t.Errorf("EHLO after 554 banner answered %q, want 503", line)
	}
	c.Write([]byte("QUIT\r\n"))
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "221 ") {
		t.Errorf("QUIT answered %q, want 221", line)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Errorf("connection still open after QUIT")
	}

	// net/smtp sees the refusal as an error from Dial.
	_, err := smtp.Dial(addr)
	wantReply(t, err, 554, "listed by bl.example")
}

func TestConnectTempFail(t *testing.T) {
	outage := check{"fcrdns", verdict.Connect, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.TempError, Action: verdict.TempFail, Code: 451, Enhanced: "4.4.3", Reason: "DNS timeout"}
	}}
	addr, _ := startServer(t, &verdict.Policy{Checks: []verdict.Check{outage}})
	_, r, banner := dialRaw(t, addr)
	if !strings.HasPrefix(banner, "421 4.4.3 mx.example.net ") {
		t.Fatalf("banner %q, want 421 4.4.3", banner)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Errorf("connection still open after 421")
	}
}

func TestHeloRefused(t *testing.T) {
	helo := check{"helo", verdict.Helo, func(s *verdict.Session) verdict.Result {
		if s.HELO == "localhost" {
			return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Reason: "HELO localhost from outside"}
		}
		return verdict.Result{Status: verdict.Pass}
	}}
	addr, _ := startServer(t, &verdict.Policy{Checks: []verdict.Check{helo}})
	err := send(addr, "localhost", "alice@example.org", []string{"bob@example.net"}, cleanMessage)
	wantReply(t, err, 550, "HELO localhost")

	// A good EHLO, then a bad one: the next MAIL is refused, and keeps
	// being refused until the client names itself properly.
	c, r, _ := dialRaw(t, addr)
	for _, step := range []struct{ send, want string }{
		{"EHLO mail.example.org\r\n", "250"},
		{"EHLO localhost\r\n", "250"},
		{"MAIL FROM:<alice@example.org>\r\n", "550 5.7.1 HELO localhost from outside"},
		{"MAIL FROM:<alice@example.org>\r\n", "550 5.7.1"},
		{"EHLO mail.example.org\r\n", "250"},
		{"MAIL FROM:<alice@example.org>\r\n", "250"},
	} {
		c.Write([]byte(step.send))
		var line string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(l) < 4 || l[3] != '-' {
				line = l
				break
			}
		}
		if !strings.HasPrefix(line, step.want) {
			t.Fatalf("%q answered %q, want %q", strings.TrimSpace(step.send), line, step.want)
		}
	}
}

// BenchmarkTransaction measures one whole SMTP transaction over loopback
// (EHLO, MAIL, RCPT, DATA, delivery into the Maildir) with a trivial
// policy: the server's own cost.
func BenchmarkTransaction(b *testing.B) {
	srv := &Server{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}, Hostname: "mx.example.net", Maildir: b.TempDir()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := srv.SMTP()
	go s.Serve(srv.Listen(ln))
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := send(ln.Addr().String(), "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// early is a Data check that records what Prefetch was given.
type early struct {
	check
	seen chan []byte
}

func (e early) Prefetch(ctx context.Context, s *verdict.Session) {
	if s.Message != nil {
		e.seen <- s.Message
	}
}

// TestHeaderPrefetch: the checks get the header section to start their
// lookups before the body is in.
func TestHeaderPrefetch(t *testing.T) {
	e := early{check{"dkim", verdict.Data, func(*verdict.Session) verdict.Result { return verdict.Result{} }}, make(chan []byte, 4)}
	addr, _ := startServer(t, &verdict.Policy{Checks: []verdict.Check{e}})
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-e.seen:
		end := strings.Index(cleanMessage, "\r\n\r\n") + 4
		if string(h) != cleanMessage[:end] {
			t.Errorf("prefetched with %q, want the header section %q", h, cleanMessage[:end])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no prefetch with the header section")
	}
}
