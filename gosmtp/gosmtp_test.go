package gosmtp_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	gosmtpserver "github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/gosmtp"
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
func (c check) Check(_ context.Context, s *verdict.Session) verdict.Result {
	return c.fn(s)
}

var relayCheck = check{"relay", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
	if strings.HasSuffix(s.Rcpt, "@example.net") {
		return verdict.Result{Status: verdict.Pass}
	}
	return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Reason: "Relay access denied"}
}}

var spfCheck = check{"spf", verdict.Mail, func(s *verdict.Session) verdict.Result {
	if strings.HasSuffix(s.MailFrom, "@outage.example") {
		return verdict.Result{Status: verdict.TempError, Action: verdict.TempFail, Code: 451, Enhanced: "4.4.3", Reason: "DNS lookup failed"}
	}
	return verdict.Result{Status: verdict.Pass, Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: s.MailFrom}}}
}}

// inbox is the wrapped backend: it keeps what gosmtp hands it.
type inbox struct {
	mu   sync.Mutex
	msgs []string
	junk []bool
}

func (b *inbox) NewSession(*gosmtpserver.Conn) (gosmtpserver.Session, error) {
	return &box{b: b}, nil
}

func (b *inbox) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

type box struct {
	b    *inbox
	from string
	to   []string
	junk bool
}

func (x *box) Mail(from string, _ *gosmtpserver.MailOptions) error {
	x.from = from
	return nil
}
func (x *box) Rcpt(to string, _ *gosmtpserver.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *box) SetDecision(_ *verdict.Session, _ verdict.Decision, junk bool) { x.junk = junk }
func (x *box) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.b.mu.Lock()
	defer x.b.mu.Unlock()
	x.b.msgs = append(x.b.msgs, string(b))
	x.b.junk = append(x.b.junk, x.junk)
	return nil
}
func (x *box) Reset()        { x.from, x.to, x.junk = "", nil, false }
func (x *box) Logout() error { return nil }

// logBuffer collects go-smtp's error log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type server struct {
	addr string
	box  *inbox
	log  *logBuffer
}

// start serves a go-smtp server wrapped by gosmtp on loopback.
func start(t testing.TB, p *verdict.Policy, o *gosmtp.Options) *server {
	t.Helper()
	if o == nil {
		o = &gosmtp.Options{}
	}
	if o.Hostname == "" {
		o.Hostname = "mx.example.net"
	}
	srv := &server{box: &inbox{}, log: &logBuffer{}}
	s := gosmtpserver.NewServer(gosmtp.Wrap(srv.box, p, o))
	s.Domain = o.Hostname
	s.MaxMessageBytes = 1 << 20
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(srv.log, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(gosmtp.Listen(ln, p, o)) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	srv.addr = ln.Addr().String()
	return srv
}

const cleanMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: hello\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

// send runs one SMTP transaction with net/smtp and returns the first refusal.
func send(addr, from string, rcpts []string, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mail.example.org"); err != nil {
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

func wantReply(t *testing.T, err error, code int, text string) {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != code || !strings.Contains(te.Msg, text) {
		t.Fatalf("reply %v, want %d containing %q", err, code, text)
	}
}

// dialog is a raw SMTP client that reads whole replies.
type dialog struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) (*dialog, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	d := &dialog{t, c, bufio.NewReader(c)}
	return d, d.read()
}

// read returns the last line of the next reply, or "" at EOF.
func (d *dialog) read() string {
	for {
		l, err := d.r.ReadString('\n')
		if err != nil {
			return ""
		}
		if len(l) < 4 || l[3] != '-' {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

// do sends raw text and returns the reply.
func (d *dialog) do(raw string) string {
	d.t.Helper()
	if _, err := d.c.Write([]byte(raw)); err != nil {
		d.t.Fatal(err)
	}
	return d.read()
}

func (d *dialog) expect(raw, want string) {
	d.t.Helper()
	if got := d.do(raw); !strings.HasPrefix(got, want) {
		d.t.Fatalf("%q answered %q, want %q", strings.TrimSpace(raw), got, want)
	}
}

func TestError(t *testing.T) {
	if err := gosmtp.Error(verdict.Decision{Action: verdict.Accept, Code: 250}); err != nil {
		t.Errorf("Accept: %#v", err)
	}
	if err := gosmtp.Error(verdict.Decision{Action: verdict.Quarantine, Code: 250}); err != nil {
		t.Errorf("Quarantine: %#v", err)
	}
	for _, c := range []struct {
		enh  string
		code int
		want gosmtpserver.EnhancedCode
	}{
		{"5.7.1", 550, gosmtpserver.EnhancedCode{5, 7, 1}},
		{"4.4.3", 451, gosmtpserver.EnhancedCode{4, 4, 3}},
		{"4.7.1", 550, gosmtpserver.EnhancedCode{5, 0, 0}}, // class must match the code
		{"", 554, gosmtpserver.EnhancedCode{5, 0, 0}},
		{"5.x.1", 550, gosmtpserver.EnhancedCode{5, 0, 0}},
		{"5.7", 550, gosmtpserver.EnhancedCode{5, 0, 0}},
	} {
		err := gosmtp.Error(verdict.Decision{Action: verdict.Reject, Code: c.code, Enhanced: c.enh, Message: "no"})
		se, ok := err.(*gosmtpserver.SMTPError)
		if !ok || se.Code != c.code || se.EnhancedCode != c.want || se.Message != "no" {
			t.Errorf("Error(%q, %d) = %#v, want %v", c.enh, c.code, err, c.want)
		}
	}
}

func TestAcceptStampsAndRemovesForged(t *testing.T) {
	srv := start(t, &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}, nil)
	msg := "Authentication-Results: mx.example.net; dkim=pass header.d=example.net\r\n" +
		"Authentication-Results: relay.example.org; spf=pass smtp.mailfrom=alice@example.org\r\n" + cleanMessage
	if err := send(srv.addr, "alice@example.org", []string{"bob@example.net"}, msg); err != nil {
		t.Fatal(err)
	}
	got := srv.box.messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	want := "Authentication-Results: mx.example.net;\r\n\tspf=pass smtp.mailfrom=alice@example.org\r\n" +
		"Authentication-Results: relay.example.org; spf=pass smtp.mailfrom=alice@example.org\r\n" + cleanMessage
	if got[0] != want {
		t.Errorf("handed on\n%q\nwant\n%q", got[0], want)
	}
}

// TestTransactions: RSET between transactions, a refused MAIL followed by
// a good one, a refused recipient beside a good one.
func TestTransactions(t *testing.T) {
	srv := start(t, &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}, nil)
	d, banner := dial(t, srv.addr)
	if !strings.HasPrefix(banner, "220 mx.example.net") {
		t.Fatalf("banner %q", banner)
	}
	d.expect("EHLO mail.example.org\r\n", "250 ")
	d.expect("MAIL FROM:<bob@outage.example>\r\n", "451 4.4.3 DNS lookup failed")
	d.expect("MAIL FROM:<alice@example.org>\r\n", "250 ")
	d.expect("RCPT TO:<victim@example.com>\r\n", "554 5.7.1 Relay access denied")
	d.expect("RCPT TO:<bob@example.net>\r\n", "250 ")
	d.expect("RSET\r\n", "250 ")
	d.expect("MAIL FROM:<carol@example.org>\r\n", "250 ")
	d.expect("RCPT TO:<bob@example.net>\r\n", "250 ")
	d.expect("DATA\r\n", "354 ")
	d.expect(cleanMessage+".\r\n", "250 ")
	d.expect("QUIT\r\n", "221 ")
	got := srv.box.messages()
	if len(got) != 1 || !strings.Contains(got[0], "smtp.mailfrom=carol@example.org") || strings.Contains(got[0], "alice") && !strings.Contains(got[0], "From: Alice") {
		t.Errorf("delivered %q", got)
	}
}

// TestHostileData: messages that would forge or smuggle are refused with
// 550 5.6.0 over a real connection and never reach the wrapped backend.
func TestHostileData(t *testing.T) {
	srv := start(t, &verdict.Policy{Checks: []verdict.Check{spfCheck}}, nil)
	for _, c := range []struct{ name, data, want string }{
		// The first line would continue our Authentication-Results.
		{"leading space", " ; dkim=pass header.d=paypal.com; dmarc=pass header.from=paypal.com\r\n" + cleanMessage, "550 5.6.0"},
		{"leading tab", "\tdkim=pass\r\n" + cleanMessage, "550 5.6.0"},
		// Mail readers split at a bare CR: a forged field of ours.
		{"bare CR in header", "X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass header.d=paypal.com\r\n" + cleanMessage, "550 5.6.0"},
		{"bare LF in header", "X-Foo: bar\nAuthentication-Results: mx.example.net; dkim=pass\r\n" + cleanMessage, "550 5.6.0"},
		// SMTP smuggling: a second message after a bare-LF end of data.
		{"smuggling", cleanMessage + "\n.\nMAIL FROM:<ceo@paypal.com>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n" + cleanMessage, "550 5.6.0"},
		{"bare CR in body", cleanMessage + "line\r.\rmore\r\n", "550 5.6.0"},
		{"empty", "", "550 5.6.0"},
		{"no From", "To: bob@example.net\r\nSubject: hi\r\n\r\nHi.\r\n", "550 5.6.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, _ := dial(t, srv.addr)
			d.expect("EHLO mail.example.org\r\n", "250 ")
			d.expect("MAIL FROM:<alice@example.org>\r\n", "250 ")
			d.expect("RCPT TO:<bob@example.net>\r\n", "250 ")
			d.expect("DATA\r\n", "354 ")
			d.expect(c.data+"\r\n.\r\n", c.want)
			// The session goes on: the next transaction is clean.
			d.expect("MAIL FROM:<alice@example.org>\r\n", "250 ")
			d.expect("QUIT\r\n", "221 ")
		})
	}
	if got := srv.box.messages(); len(got) != 0 {
		t.Errorf("hostile messages handed on: %q", got)
	}
}

// TestMalformedLeftToPolicy: with a "message" check, or AcceptMalformed,
// gosmtp leaves an empty or From-less message to the policy.
func TestMalformedLeftToPolicy(t *testing.T) {
	msg := "To: bob@example.net\r\n\r\nHi.\r\n"
	message := check{"message", verdict.Data, func(*verdict.Session) verdict.Result { return verdict.Result{} }}
	srv := start(t, &verdict.Policy{Checks: []verdict.Check{message}}, nil)
	if err := send(srv.addr, "alice@example.org", []string{"bob@example.net"}, msg); err != nil {
		t.Errorf("with a message check: %v", err)
	}
	srv = start(t, &verdict.Policy{}, &gosmtp.Options{AcceptMalformed: true})
	if err := send(srv.addr, "alice@example.org", []string{"bob@example.net"}, msg); err != nil {
		t.Errorf("with AcceptMalformed: %v", err)
	}
}

func TestStampedFieldsCannotBeExtended(t *testing.T) {
	// The stamp written above a message that (against read's refusal)
	// began with white space ends in a guard field: the continuation
	// joins that, not our Authentication-Results.
	got := gosmtp.FieldsForTest([]byte(" ; dkim=pass header.d=paypal.com\r\nFrom: a@b\r\n\r\n"), verdict.Decision{}, "mx.example.net", false)
	lines := strings.Split(strings.TrimSuffix(string(got), "\r\n"), "\r\n")
	if last := lines[len(lines)-1]; strings.HasPrefix(last, "Authentication-Results") || strings.HasPrefix(last, "\t") {
		t.Errorf("last field written %q can be extended", last)
	}
}

// TestQuarantineKeepsReasonsFromSender: the 250 does not tell the sender
// why its message is junk; X-Spam-Status does, for the recipient.
func TestQuarantineKeepsReasonsFromSender(t *testing.T) {
	listed := check{"dnsbl", verdict.Connect, func(*verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.Fail, Score: 7, Reason: "listed by bl.example"}
	}}
	srv := start(t, &verdict.Policy{Checks: []verdict.Check{listed}, Quarantine: 6, Reject: 15}, nil)
	d, _ := dial(t, srv.addr)
	d.expect("EHLO mail.example.org\r\n", "250 ")
	for _, cmd := range []string{"MAIL FROM:<alice@example.org>\r\n", "RCPT TO:<bob@example.net>\r\n", "DATA\r\n", cleanMessage + ".\r\n"} {
		if r := d.do(cmd); strings.Contains(r, "listed") || r[0] != '2' && r[0] != '3' {
			t.Errorf("%q answered %q", strings.TrimSpace(cmd), r)
		}
	}
	got := srv.box.messages()
	if len(got) != 1 || !srv.box.junk[0] || !strings.Contains(got[0], "X-Spam-Status: Yes, score=7.0; OK: dnsbl: listed by bl.example\r\n") {
		t.Errorf("quarantined message %q junk %v", got, srv.box.junk)
	}
}

// TestMonitor: every stage would refuse, and every stage answers 2xx.
func TestMonitor(t *testing.T) {
	refuse := func(name string, st verdict.Stage, a verdict.Action) check {
		return check{name, st, func(*verdict.Session) verdict.Result {
			return verdict.Result{Status: verdict.Fail, Action: a, Reason: name + " says no"}
		}}
	}
	var mu sync.Mutex
	would := map[verdict.Stage]verdict.Action{}
	p := &verdict.Policy{Monitor: true, Checks: []verdict.Check{
		refuse("c", verdict.Connect, verdict.Reject), refuse("h", verdict.Helo, verdict.Reject),
		refuse("m", verdict.Mail, verdict.TempFail), refuse("r", verdict.Rcpt, verdict.Reject),
		refuse("d", verdict.Data, verdict.Reject),
	}, Observe: func(o verdict.Observation) {
		mu.Lock()
		would[o.Stage] = o.Decision.Would
		mu.Unlock()
	}}
	srv := start(t, p, nil)
	if err := send(srv.addr, "alice@example.org", []string{"victim@example.com"}, cleanMessage); err != nil {
		t.Fatalf("monitor mode refused: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for st := verdict.Connect; st <= verdict.Data; st++ {
		if would[st] != verdict.Reject {
			t.Errorf("stage %v: would %v, want reject", st, would[st])
		}
	}
	if got := srv.box.messages(); len(got) != 1 {
		t.Errorf("%d messages handed on", len(got))
	}
}

func TestConnectionCaps(t *testing.T) {
	srv := start(t, &verdict.Policy{}, &gosmtp.Options{MaxConns: 3, MaxConnsPerClient: 2})
	a, ba := dial(t, srv.addr)
	_, bb := dial(t, srv.addr)
	_, bc := dial(t, srv.addr)
	if !strings.HasPrefix(ba, "220 ") || !strings.HasPrefix(bb, "220 ") {
		t.Fatalf("banners %q %q", ba, bb)
	}
	if !strings.HasPrefix(bc, "421 4.7.0 mx.example.net") {
		t.Fatalf("third connection from one client: %q, want 421 4.7.0", bc)
	}
	a.do("QUIT\r\n")
	a.c.Close()
	// The place is given back once the server has closed the connection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, b := dial(t, srv.addr)
		if strings.HasPrefix(b, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place after a client quit: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The global cap, with clients in one /24 counted as one.
	srv = start(t, &verdict.Policy{}, &gosmtp.Options{MaxConns: 1, MaxConnsPerClient: -1})
	dial(t, srv.addr)
	if _, b := dial(t, srv.addr); !strings.HasPrefix(b, "421 4.7.0 ") {
		t.Errorf("over the global cap: %q", b)
	}
}

func TestConnectionCapsPerNetwork(t *testing.T) {
	// 127.0.0.1 and 127.0.0.2 are one client with ClientBits4 24.
	srv := start(t, &verdict.Policy{}, &gosmtp.Options{MaxConnsPerClient: 1, ClientBits4: 24})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", srv.addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	defer c.Close()
	if l, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first: %q", l)
	}
	if _, b := dial(t, srv.addr); !strings.HasPrefix(b, "421 4.7.0 ") {
		t.Errorf("second address of the /24: %q, want 421", b)
	}
}

// TestMemoryBudget: messages over SpoolBytes go to disk while they arrive;
// one that cannot be brought into memory to be judged gets 452 4.3.1.
func TestMemoryBudget(t *testing.T) {
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 2000) // 128 KB
	big := cleanMessage + body
	srv := start(t, &verdict.Policy{}, &gosmtp.Options{SpoolBytes: 16 << 10, MemoryBudget: 64 << 10, SpoolDir: t.TempDir()})
	wantReply(t, send(srv.addr, "alice@example.org", []string{"bob@example.net"}, big), 452, "4.3.1")
	if err := send(srv.addr, "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Errorf("small message after a refused big one: %v", err)
	}

	// Within the budget, a spooled message arrives intact.
	dir := t.TempDir()
	srv = start(t, &verdict.Policy{}, &gosmtp.Options{SpoolBytes: 16 << 10, MemoryBudget: 1 << 20, SpoolDir: dir})
	if err := send(srv.addr, "alice@example.org", []string{"bob@example.net"}, big); err != nil {
		t.Fatal(err)
	}
	if got := srv.box.messages(); len(got) != 1 || !strings.HasSuffix(got[0], big) {
		t.Errorf("spooled message not handed on intact")
	}
}

func TestMessageTooLarge(t *testing.T) {
	srv := start(t, &verdict.Policy{}, &gosmtp.Options{MaxMessageBytes: 4096})
	big := cleanMessage + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 5)
	wantReply(t, send(srv.addr, "alice@example.org", []string{"bob@example.net"}, big), 552, "5.3.4")
}

func ExampleError() {
	d := verdict.Decision{Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Message: "Relay access denied"}
	fmt.Println(gosmtp.Error(d))
	// Output: SMTP error 554: Relay access denied
}
