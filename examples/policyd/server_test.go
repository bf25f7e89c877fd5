package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

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

var relayCheck = check{"relay", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
	if strings.HasSuffix(s.Rcpt, "@example.net") {
		return verdict.Result{Status: verdict.Pass}
	}
	return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Reason: "relay access denied"}
}}

var spfCheck = check{spf.Name, verdict.Mail, func(s *verdict.Session) verdict.Result {
	return verdict.Result{Status: verdict.Pass, Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: s.MailFrom}}}
}}

type greylister struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *greylister) check() check {
	return check{"greylist", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
		g.mu.Lock()
		defer g.mu.Unlock()
		k := s.IP.String() + " " + s.MailFrom + " " + s.Rcpt
		if g.seen[k] {
			return verdict.Result{Status: verdict.Pass}
		}
		g.seen[k] = true
		return verdict.Result{Status: verdict.Fail, Action: verdict.TempFail, Code: 451, Enhanced: "4.7.1", Reason: "greylisted"}
	}}
}

func startServer(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// client speaks the policy protocol as Postfix's smtpd does.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, network, addr string) *client {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t, c, bufio.NewReader(c)}
}

// request sends raw request text and returns the action.
func (cl *client) raw(req string) string {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, req); err != nil {
		cl.t.Fatal(err)
	}
	line, err := cl.r.ReadString('\n')
	if err != nil {
		cl.t.Fatalf("reading answer: %v", err)
	}
	if end, err := cl.r.ReadString('\n'); err != nil || end != "\n" {
		cl.t.Fatalf("answer %q not followed by an empty line: %q %v", line, end, err)
	}
	action, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "action=")
	if !ok {
		cl.t.Fatalf("answer %q lacks action=", line)
	}
	return action
}

// ask sends a request like Postfix's: the usual attributes, overridden by kv.
func (cl *client) ask(kv ...string) string {
	cl.t.Helper()
	attrs := map[string]string{
		"request":             "smtpd_access_policy",
		"protocol_state":      "RCPT",
		"protocol_name":       "ESMTP",
		"client_address":      "192.0.2.10",
		"client_name":         "mail.example.org",
		"reverse_client_name": "mail.example.org",
		"helo_name":           "mail.example.org",
		"sender":              "alice@example.org",
		"recipient":           "bob@example.net",
		"recipient_count":     "0",
		"queue_id":            "",
		"instance":            "1a2b.5f3c1d2e.7",
		"size":                "0",
		"sasl_username":       "",
		"encryption_protocol": "",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		attrs[kv[i]] = kv[i+1]
	}
	var b strings.Builder
	for k, v := range attrs {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	b.WriteString("\n")
	return cl.raw(b.String())
}

func TestAnswers(t *testing.T) {
	g := &greylister{seen: map[string]bool{}}
	srv := &Server{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck, g.check()}}}
	cl := dial(t, "tcp", startServer(t, srv))

	if got, want := cl.ask("recipient", "victim@example.com"), "554 5.7.1 relay access denied"; got != want {
		t.Errorf("relay: %q, want %q", got, want)
	}
	if got, want := cl.ask(), "DEFER_IF_PERMIT 4.7.1 greylisted"; got != want {
		t.Errorf("first sighting: %q, want %q", got, want)
	}
	if got := cl.ask(); got != "DUNNO" {
		t.Errorf("retry: %q, want DUNNO", got)
	}
	srv.DeferNow = true
	if got, want := cl.ask("sender", "carol@example.org"), "451 4.7.1 greylisted"; got != want {
		t.Errorf("first sighting, -defer-now: %q, want %q", got, want)
	}
}

// TestStagesUpToState: a request is judged on the stages up to its
// protocol_state, and no further than a stage that refuses.
func TestStagesUpToState(t *testing.T) {
	var ran [verdict.Data + 1]atomic.Int32
	var checks []verdict.Check
	for st := verdict.Connect; st <= verdict.Data; st++ {
		checks = append(checks, check{"c-" + st.String(), st, func(s *verdict.Session) verdict.Result {
			ran[st].Add(1)
			if s.HELO == "refused.example" {
				return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Reason: "bad"}
			}
			return verdict.Result{}
		}})
	}
	srv := &Server{Policy: &verdict.Policy{Checks: checks}}
	cl := dial(t, "tcp", startServer(t, srv))
	for _, tc := range []struct {
		state  string
		helo   string
		want   string
		stages string // which stages ran, connect..data
	}{
		{"CONNECT", "", "DUNNO", "10000"},
		{"EHLO", "mail.example.org", "DUNNO", "11000"},
		{"HELO", "mail.example.org", "DUNNO", "11000"},
		{"MAIL", "mail.example.org", "DUNNO", "11100"},
		{"RCPT", "mail.example.org", "DUNNO", "11110"},
		{"DATA", "mail.example.org", "DUNNO", "11100"},
		{"END-OF-MESSAGE", "mail.example.org", "DUNNO", "11100"},
		{"VRFY", "mail.example.org", "DUNNO", "00000"},
		{"rcpt", "refused.example", "554 5.7.1 bad", "10000"},
	} {
		for i := range ran {
			ran[i].Store(0)
		}
		if got := cl.ask("protocol_state", tc.state, "helo_name", tc.helo); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.state, got, tc.want)
		}
		var stages string
		for i := range ran {
			stages += fmt.Sprint(ran[i].Load())
		}
		if stages != tc.stages {
			t.Errorf("%s: stages run %s, want %s", tc.state, stages, tc.stages)
		}
	}
}

func TestSessionFromAttributes(t *testing.T) {
	got := make(chan verdict.Session, 1)
	record := check{"record", verdict.Rcpt, func(s *verdict.Session) verdict.Result {
		got <- *s
		return verdict.Result{}
	}}
	srv := &Server{Policy: &verdict.Policy{Checks: []verdict.Check{record}}}
	cl := dial(t, "tcp", startServer(t, srv))
	cl.ask("client_address", "2001:db8::25", "helo_name", "[IPv6:2001:db8::25]", "sender", "",
		"recipient", "Bob@Example.NET", "sasl_username", "alice", "encryption_protocol", "TLSv1.3")
	if s := <-got; s.IP.String() != "2001:db8::25" || s.HELO != "[IPv6:2001:db8::25]" || s.MailFrom != "" ||
		s.Rcpt != "Bob@Example.NET" || s.AuthUser != "alice" || !s.TLS {
		t.Errorf("session %+v", s)
	}
	cl.ask("client_address", "::ffff:192.0.2.1", "encryption_protocol", "")
	if s := <-got; s.IP.String() != "192.0.2.1" || s.TLS {
		t.Errorf("session %+v", s)
	}
}

func TestPrependOncePerTransaction(t *testing.T) {
	srv := &Server{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck}}, AuthservID: "mx.example.net"}
	cl := dial(t, "tcp", startServer(t, srv))
	want := "PREPEND Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=alice@example.org"
	if got := cl.ask("protocol_state", "CONNECT"); got != "DUNNO" {
		t.Errorf("CONNECT: %q, want DUNNO", got)
	}
	if got := cl.ask(); got != want {
		t.Errorf("first recipient: %q, want %q", got, want)
	}
	if got := cl.ask("recipient", "carol@example.net"); got != "DUNNO" {
		t.Errorf("second recipient: %q, want DUNNO", got)
	}
	if got := cl.ask("instance", "next"); got != want {
		t.Errorf("next transaction: %q, want %q", got, want)
	}
}

func TestQuarantine(t *testing.T) {
	suspicious := check{"dnsbl", verdict.Connect, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.Fail, Score: 7, Reason: "listed"}
	}}
	srv := &Server{Policy: &verdict.Policy{Checks: []verdict.Check{suspicious, spfCheck}, Quarantine: 6}, AuthservID: "mx.example.net"}
	cl := dial(t, "tcp", startServer(t, srv))
	if got := cl.ask(); got != "PREPEND X-Spam-Flag: YES" {
		t.Errorf("quarantine: %q", got)
	}
	if got := cl.ask("recipient", "carol@example.net"); !strings.HasPrefix(got, "PREPEND Authentication-Results: mx.example.net; spf=pass") {
		t.Errorf("second recipient of a quarantined message: %q", got)
	}
	if got := cl.ask("recipient", "dave@example.net"); got != "DUNNO" {
		t.Errorf("third recipient: %q", got)
	}
	srv.Hold = true
	if got := cl.ask("instance", "other"); got != "HOLD OK: dnsbl: listed" {
		t.Errorf("quarantine with -hold: %q", got)
	}
}

func TestMalformed(t *testing.T) {
	srv := &Server{Policy: &verdict.Policy{Checks: []verdict.Check{relayCheck}}}
	addr := startServer(t, srv)
	cl := dial(t, "tcp", addr)
	for _, tc := range []struct{ req, want string }{
		{"request=smtpd_access_policy\nthis is no attribute\n\n", "451 4.3.0 Policy service error: malformed policy request: line without '='"},
		{"request=junk\nprotocol_state=RCPT\n\n", "451 4.3.0 Policy service error: malformed policy request: request=junk is not smtpd_access_policy"},
		{"protocol_state=RCPT\n\n", "451 4.3.0 Policy service error: malformed policy request: request= is not smtpd_access_policy"},
		{"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=unknown\n\n", "451 4.3.0 Policy service error: malformed policy request: client_address is no IP address"},
		{"request=smtpd_access_policy\nprotocol_state=NONSENSE\n\n", "DUNNO"},
	} {
		if got := cl.raw(tc.req); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.req, got, tc.want)
		}
	}
	// The connection is still usable.
	if got := cl.ask("recipient", "victim@example.com"); !strings.HasPrefix(got, "554 5.7.1 ") {
		t.Errorf("after malformed requests: %q", got)
	}

	// A request over the size limit is answered, then the connection closed.
	cl2 := dial(t, "tcp", addr)
	got := cl2.raw("request=smtpd_access_policy\nx=" + strings.Repeat("y", maxRequestBytes) + "\n\n")
	if !strings.HasPrefix(got, "451 4.3.0 Policy service error: request larger than") {
		t.Errorf("oversized request: %q", got)
	}
	if _, err := cl2.r.ReadByte(); err == nil {
		t.Errorf("connection still open after an oversized request")
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := &Server{Policy: &verdict.Policy{}, IdleTimeout: 50 * time.Millisecond}
	cl := dial(t, "tcp", startServer(t, srv))
	if _, err := cl.r.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
}

// TestRunUnixSocket runs the command as main does, on a unix socket.
func TestRunUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.sock")
	// A stale socket from an earlier run is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "unix:" + path, "-socket-mode", "0600", "-zone", "../testdata/demo.zone", "-local", "example.net", "-authres=false"}, io.Discard, func(a net.Addr) { ready <- a })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	cl := dial(t, "unix", path)
	if got := cl.ask(); got != "DUNNO" {
		t.Errorf("answer over unix socket: %q", got)
	}
	// A second server on the same live socket is refused.
	if err := run(context.Background(), []string{"-listen", "unix:" + path, "-zone", "../testdata/demo.zone"}, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Errorf("second server on a live socket: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestEnhanced(t *testing.T) {
	for _, tc := range []struct {
		in    string
		class byte
		want  string
	}{
		{"5.7.23", '5', "5.7.23"},
		{"4.4.3", '4', "4.4.3"},
		{"4.4.3", '5', "5.7.1"},
		{"", '4', "4.7.1"},
		{"5.7", '5', "5.7.1"},
		{"5.x.1", '5', "5.7.1"},
		{"5.7.1 junk", '5', "5.7.1"},
	} {
		if got := enhanced(tc.in, tc.class); got != tc.want {
			t.Errorf("enhanced(%q, %c) = %q, want %q", tc.in, tc.class, got, tc.want)
		}
	}
}
