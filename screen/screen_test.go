package screen

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

const wait = 300 * time.Millisecond

// server is a screen in front of a stand-in SMTP server that greets each
// connection it gets and keeps it for the test to inspect.
type server struct {
	l     *Listener
	addr  string
	conns chan *Conn
}

func newServer(t *testing.T, o *Options) *server {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		o = &Options{}
	}
	if o.GreetWait == 0 {
		o.GreetWait = wait
	}
	if o.Hostname == "" {
		o.Hostname = "mx.test"
	}
	s := &server{l: Listen(raw, o), addr: raw.Addr().String(), conns: make(chan *Conn, 16)}
	t.Cleanup(func() { s.l.Close() })
	go func() {
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 real.test ESMTP\r\n"))
			s.conns <- c.(*Conn)
		}
	}()
	return s
}

// client is a scripted SMTP client.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (s *server) dial(t *testing.T) *client {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one whole reply and returns its lines joined by "|".
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return strings.Join(append(lines, "ERR "+err.Error()), "|")
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "|")
		}
	}
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	r := c.reply()
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("reply %q, want %q", r, prefix)
	}
	return r
}

// mta is the patient mail server: it waits for each reply.
func (c *client) mta() {
	c.t.Helper()
	c.expect("220-mx.test ESMTP|220 mx.test ESMTP")
	c.send("EHLO client.test\r\n")
	if r := c.expect("250-mx.test"); strings.Contains(r, "PIPELINING") {
		c.t.Errorf("PIPELINING offered: %q", r)
	}
	c.send("MAIL FROM:<a@client.test>\r\n")
	c.expect("250 2.1.0")
	c.send("RCPT TO:<b@mx.test>\r\n")
	c.expect("450 4.3.2 Service currently unavailable")
	c.send("QUIT\r\n")
	c.expect("221 2.0.0")
}

func (s *server) handed(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection handed to the server")
		return nil
	}
}

func (s *server) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Fatalf("connection handed to the server: %v", c.Findings())
	case <-time.After(50 * time.Millisecond):
	}
}

// TestPatientMTA: a real MTA waits out the pause, goes through the deep
// tests, is told 450 and comes back: then it reaches the server at once.
func TestPatientMTA(t *testing.T) {
	s := newServer(t, nil)
	c := s.dial(t)
	start := time.Now()
	c.mta()
	if d := time.Since(start); d < wait {
		t.Errorf("greeting after %v, before the pause ended", d)
	}
	s.none(t)
	c2 := s.dial(t)
	start = time.Now()
	c2.expect("220 real.test")
	if d := time.Since(start); d > wait/2 {
		t.Errorf("cached client waited %v", d)
	}
	conn := s.handed(t)
	if conn.Findings() != 0 || conn.Result().Status != verdict.Pass || conn.Result().Reason != "passed screening (cached)" {
		t.Errorf("findings %v result %+v", conn.Findings(), conn.Result())
	}
	// The client's commands reach the server.
	c2.send("EHLO client.test\r\n")
	br := bufio.NewReader(conn)
	if l, err := br.ReadString('\n'); err != nil || l != "EHLO client.test\r\n" {
		t.Errorf("server read %q %v", l, err)
	}
}

// TestPregreet: a client that speaks first is a pregreet talker; it goes
// through the dialogue (deep tests pending), and nothing is cached: a
// failed test spoils the passes of the connection, as in postscreen. With the deep tests disabled, it reaches the server with
// the finding, its early words intact.
func TestPregreet(t *testing.T) {
	s := newServer(t, nil)
	c := s.dial(t)
	c.send("EHLO early.test\r\n")
	c.expect("220-mx.test ESMTP|220 mx.test ESMTP")
	c.expect("250-mx.test")
	c.send("MAIL FROM:<a@early.test>\r\n")
	c.expect("250")
	c.send("RCPT TO:<b@mx.test>\r\n")
	c.expect("450 4.3.2")
	c.send("QUIT\r\n")
	c.expect("221")
	passed, _, _ := s.l.cache.Lookup(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Now())
	if passed != 0 {
		t.Errorf("cached %v", passed)
	}

	s = newServer(t, &Options{Disable: DeepTests})
	c = s.dial(t)
	c.send("EHLO early.test\r\n")
	c.expect("220-mx.test ESMTP|220 real.test")
	conn := s.handed(t)
	if conn.Findings() != Pregreet {
		t.Errorf("findings %v", conn.Findings())
	}
	if r := conn.Result(); r.Status != verdict.Fail || r.Score != DefaultScores.Pregreet || r.Action != verdict.Accept || r.Reason != "screening found pregreet" {
		t.Errorf("result %+v", r)
	}
	if l, err := bufio.NewReader(conn).ReadString('\n'); err != nil || l != "EHLO early.test\r\n" {
		t.Errorf("server read %q %v", l, err)
	}

	// Drop: 521 at the end of the pause.
	s = newServer(t, &Options{PregreetAction: Drop})
	c = s.dial(t)
	c.send("EHLO early.test\r\n")
	c.expect("220-mx.test ESMTP|521 5.5.1 Protocol error")
	s.none(t)
}

// TestPipelining: commands sent together, unasked, make every recipient
// 550 5.5.1 (enforce), and nothing is cached: the next connection waits
// through the pause again.
func TestPipelining(t *testing.T) {
	s := newServer(t, nil)
	c := s.dial(t)
	c.expect("220-mx.test ESMTP|220 mx.test")
	c.send("EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\n")
	c.expect("250-mx.test")
	c.expect("250 2.1.0")
	c.expect("550 5.5.1 Protocol error")
	c.send("QUIT\r\n")
	c.expect("221")
	passed, _, _ := s.l.cache.Lookup(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Now())
	if passed != 0 {
		t.Errorf("cached %v", passed)
	}
	c = s.dial(t)
	c.expect("220-mx.test ESMTP|220 mx.test")
}

// TestNonSMTP: an HTTP request, a proxy CONNECT or POP3's USER is dropped
// with 521 5.7.0.
func TestNonSMTP(t *testing.T) {
	for _, cmd := range []string{"GET / HTTP/1.1", "CONNECT mx.test:25 HTTP/1.0", "USER alice", "post /x", "\x16\x03\x01"} {
		s := newServer(t, nil)
		c := s.dial(t)
		c.expect("220-mx.test ESMTP|220 mx.test")
		c.send(cmd + "\r\n")
		c.expect("521 5.7.0 Error: I can break rules, too. Goodbye.")
		if _, err := c.r.ReadByte(); err == nil {
			t.Errorf("%q: connection left open", cmd)
		}
		s.none(t)
	}
}

// TestBareLF: ignored by default: the client passes with the finding
// noted, and the finding travels with its next connection.
func TestBareLF(t *testing.T) {
	s := newServer(t, nil)
	c := s.dial(t)
	c.expect("220-mx.test ESMTP|220 mx.test")
	c.send("EHLO client.test\n")
	c.expect("250-mx.test")
	c.send("MAIL FROM:<a@client.test>\n")
	c.expect("250")
	c.send("RCPT TO:<b@mx.test>\n")
	c.expect("450 4.3.2")
	c.send("QUIT\n")
	c.expect("221")
	c = s.dial(t)
	c.expect("220 real.test")
	conn := s.handed(t)
	if conn.Findings() != BareLF || conn.Result().Score != DefaultScores.BareLF {
		t.Errorf("findings %v %+v", conn.Findings(), conn.Result())
	}

	// Enforced: 550 to RCPT.
	s = newServer(t, &Options{BareLFAction: Enforce})
	c = s.dial(t)
	c.expect("220-mx.test ESMTP|220 mx.test")
	c.send("EHLO client.test\n")
	c.expect("250-mx.test")
	c.send("RCPT TO:<b@mx.test>\r\n")
	c.expect("550 5.5.1")
}

// TestLeavesEarly: a client that leaves before RCPT passes nothing deep.
func TestLeavesEarly(t *testing.T) {
	s := newServer(t, nil)
	c := s.dial(t)
	c.expect("220-mx.test ESMTP|220 mx.test")
	c.send("EHLO client.test\r\n")
	c.expect("250-mx.test")
	c.send("QUIT\r\n")
	c.expect("221")
	passed, _, _ := s.l.cache.Lookup(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Now())
	if passed != Pregreet {
		t.Errorf("cached %v", passed)
	}
}

// TestAllow: a client the Allow callback vouches for skips the pause and
// the tests.
func TestAllow(t *testing.T) {
	var asked atomic.Int32
	s := newServer(t, &Options{GreetWait: 5 * time.Second, Allow: func(ctx context.Context, ip netip.Addr) bool {
		asked.Add(1)
		time.Sleep(20 * time.Millisecond) // a DNS lookup
		return ip == netip.MustParseAddr("127.0.0.1")
	}})
	c := s.dial(t)
	start := time.Now()
	c.expect("220-mx.test ESMTP|220 real.test")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("allowed client waited %v", d)
	}
	if conn := s.handed(t); conn.Result().Reason != "passed screening (allow list)" || asked.Load() != 1 {
		t.Errorf("result %+v", conn.Result())
	}
}

// TestCommandLimits: too many commands, too long a line, a silent client.
func TestCommandLimits(t *testing.T) {
	s := newServer(t, &Options{CommandLimit: 3, CommandTimeout: 300 * time.Millisecond})
	c := s.dial(t)
	c.expect("220-mx.test ESMTP|220 mx.test")
	c.send(strings.Repeat("x", 5000) + "\r\n")
	c.expect("500 5.5.2 Error: line too long")
	for range 2 { // the long line was the first command
		c.send("NOOP\r\n")
		c.expect("250 2.0.0")
	}
	c.send("NOOP\r\n")
	c.expect("421 4.7.0 mx.test Error: too many commands")
	c = s.dial(t)
	c.expect("220 mx.test") // the pause was passed
	c.expect("421 4.4.2 mx.test Error: timeout exceeded")
}

// TestMaxPending: screenings beyond the bound are refused with 421.
func TestMaxPending(t *testing.T) {
	s := newServer(t, &Options{MaxPending: 1, GreetWait: 2 * time.Second})
	c1 := s.dial(t)
	c1.c.SetDeadline(time.Now().Add(time.Second))
	if l, _ := c1.r.ReadString('\n'); l != "220-mx.test ESMTP\r\n" {
		t.Fatalf("first: %q", l)
	}
	c2 := s.dial(t)
	c2.expect("421 4.7.0 mx.test Service unavailable")
}

// TestClose: Close ends the screenings under way and Accept.
func TestClose(t *testing.T) {
	s := newServer(t, &Options{GreetWait: 10 * time.Second})
	c := s.dial(t)
	if l, _ := c.r.ReadString('\n'); l != "220-mx.test ESMTP\r\n" {
		t.Fatalf("banner: %q", l)
	}
	s.l.Close()
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("screening survived Close")
	}
	if _, err := s.l.Accept(); err == nil {
		t.Error("Accept after Close")
	}
}

func TestResult(t *testing.T) {
	if r := Result(0); r.Status != verdict.Pass || r.Check != Name {
		t.Errorf("%+v", r)
	}
	r := Result(Pregreet | BareLF)
	if r.Score != 6 || r.Reason != "screening found pregreet,bare-lf" || r.Action != verdict.Accept {
		t.Errorf("%+v", r)
	}
}
