package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"
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

// spfCheck reports the facts it was given, so tests can see them.
var spfCheck = check{spf.Name, verdict.Mail, func(s *verdict.Session) verdict.Result {
	return verdict.Result{Status: verdict.Pass, Auth: []authres.Result{&authres.SPFResult{
		Value: authres.ResultPass, From: s.MailFrom, Reason: s.IP.String() + " " + s.HELO}}}
}}

func startFilter(t *testing.T, f *Filter) string {
	t.Helper()
	if f.AuthservID == "" {
		f.AuthservID = "mx.example.net"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.Server()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// mta plays the MTA's side of the milter protocol.
type mta struct {
	t testing.TB
	s *milter.ClientSession
}

func connect(t testing.TB, addr, ip, helo string) *mta {
	t.Helper()
	cl := milter.NewClientWithOptions("tcp", addr, milter.ClientOptions{
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		ActionMask:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine,
	})
	s, err := cl.Session()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if !s.ProtocolOption(milter.OptHeaderLeadingSpace) {
		t.Errorf("milter did not ask for header values with their leading space")
	}
	m := &mta{t, s}
	m.cont(s.Conn("client.example.org", milter.FamilyInet, 25, ip))
	if err := s.Macros(milter.CodeHelo, "{tls_version}", "TLSv1.3"); err != nil {
		t.Fatal(err)
	}
	m.cont(s.Helo(helo))
	return m
}

func (m *mta) cont(a *milter.Action, err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	if a.Code != milter.ActContinue {
		m.t.Fatalf("action %c %d %q before the end of the message, want continue", a.Code, a.SMTPCode, a.SMTPText)
	}
}

// send runs one transaction; msg is split into header fields (values with
// their leading space, folds as bare LF as Postfix sends them) and body.
func (m *mta) send(from string, rcpts []string, msg string) ([]milter.ModifyAction, *milter.Action) {
	m.t.Helper()
	m.cont(m.s.Mail(from, nil))
	for _, r := range rcpts {
		m.cont(m.s.Rcpt(r, nil))
	}
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	var fields []string
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			fields[len(fields)-1] += "\n" + line
		} else {
			fields = append(fields, line)
		}
	}
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		m.cont(m.s.HeaderField(name, value))
	}
	m.cont(m.s.HeaderEnd())
	mods, act, err := m.s.BodyReadFrom(strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	return mods, act
}

const cleanMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: hello\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

func TestAcceptAddsAuthenticationResults(t *testing.T) {
	addr := startFilter(t, &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}})
	m := connect(t, addr, "192.0.2.10", "mail.example.org")
	for i := range 2 { // the second message on the same connection keeps the client's facts
		mods, act := m.send("alice@example.org", []string{"bob@example.net"}, cleanMessage)
		if act.Code != milter.ActAccept {
			t.Fatalf("message %d: action %c %q, want accept", i, act.Code, act.SMTPText)
		}
		if len(mods) != 1 || mods[0].Code != milter.ActInsertHeader || mods[0].HeaderIndex != 0 ||
			mods[0].HeaderName != "Authentication-Results" ||
			mods[0].HeaderValue != ` mx.example.net; spf=pass reason="192.0.2.10 mail.example.org" smtp.mailfrom=alice@example.org` {
			t.Errorf("message %d: modifications %+v", i, mods)
		}
	}
}

func TestForgedAuthenticationResultsRemoved(t *testing.T) {
	addr := startFilter(t, &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck}}})
	m := connect(t, addr, "192.0.2.10", "mail.example.org")
	msg := "Authentication-Results: relay.example.org; spf=pass\r\n" +
		"Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=ceo@example.net\r\n" +
		"Received: from x by y; Mon, 30 Nov 2026 09:15:00 +0000\r\n" +
		"Authentication-Results: (forged)\r\n MX.EXAMPLE.NET;\r\n dkim=pass\r\n" +
		cleanMessage
	mods, act := m.send("alice@example.org", []string{"bob@example.net"}, msg)
	if act.Code != milter.ActAccept {
		t.Fatalf("action %c %q, want accept", act.Code, act.SMTPText)
	}
	var deleted []uint32
	for _, mod := range mods {
		if mod.Code == milter.ActChangeHeader {
			if mod.HeaderName != "Authentication-Results" || mod.HeaderValue != "" {
				t.Errorf("change %+v, want a deletion", mod)
			}
			deleted = append(deleted, mod.HeaderIndex)
		}
	}
	if len(deleted) != 2 || deleted[0] != 3 || deleted[1] != 2 {
		t.Errorf("deleted Authentication-Results fields %v, want [3 2] (last first)", deleted)
	}
}

func TestRefusals(t *testing.T) {
	spfFail := check{spf.Name, verdict.Data, func(s *verdict.Session) verdict.Result {
		if strings.Contains(string(s.Message), "Subject: forged") {
			return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 550, Enhanced: "5.7.23", Reason: "100% forged"}
		}
		return verdict.Result{Status: verdict.Pass}
	}}
	outage := check{"dnsbl", verdict.Connect, func(s *verdict.Session) verdict.Result {
		if s.IP.String() == "192.0.2.99" {
			return verdict.Result{Status: verdict.TempError, Action: verdict.TempFail, Code: 451, Enhanced: "4.4.3", Reason: "DNS timeout"}
		}
		return verdict.Result{}
	}}
	addr := startFilter(t, &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{relayCheck, spfFail, outage}}})
	for _, tc := range []struct {
		name, ip  string
		rcpts     []string
		subject   string
		code      int
		text      string
		accepting bool
	}{
		{"relay", "192.0.2.10", []string{"bob@example.net", "victim@example.com"}, "hi", 554, "5.7.1 relay access denied", false},
		{"data", "192.0.2.10", []string{"bob@example.net"}, "forged", 550, "5.7.23 100%% forged", false},
		{"dns outage", "192.0.2.99", []string{"bob@example.net"}, "hi", 451, "4.4.3 DNS timeout", false},
		{"clean", "192.0.2.10", []string{"bob@example.net"}, "hi", 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := connect(t, addr, tc.ip, "mail.example.org")
			mods, act := m.send("alice@example.org", tc.rcpts, strings.Replace(cleanMessage, "hello", tc.subject, 1))
			if tc.accepting {
				if act.Code != milter.ActAccept {
					t.Errorf("action %c %d %q, want accept", act.Code, act.SMTPCode, act.SMTPText)
				}
				return
			}
			if act.Code != milter.ActReplyCode || act.SMTPCode != tc.code || act.SMTPText != tc.text {
				t.Errorf("action %c %d %q, want reply %d %q", act.Code, act.SMTPCode, act.SMTPText, tc.code, tc.text)
			}
			if len(mods) != 0 {
				t.Errorf("modifications on a refused message: %+v", mods)
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	suspicious := check{"dnsbl", verdict.Connect, func(s *verdict.Session) verdict.Result {
		return verdict.Result{Status: verdict.Fail, Score: 7, Reason: "listed"}
	}}
	p := &verdict.Policy{Checks: []verdict.Check{suspicious}, Quarantine: 6}
	for _, hold := range []bool{false, true} {
		addr := startFilter(t, &Filter{Policy: p, Hold: hold})
		m := connect(t, addr, "192.0.2.10", "mail.example.org")
		mods, act := m.send("alice@example.org", []string{"bob@example.net"}, cleanMessage)
		if act.Code != milter.ActAccept {
			t.Fatalf("hold=%v: action %c, want accept", hold, act.Code)
		}
		var got []string
		for _, mod := range mods {
			got = append(got, string(mod.Code)+" "+mod.HeaderName+mod.Reason)
		}
		want := "i Authentication-Results,h X-Spam-Flag,h X-Spam-Status"
		if hold {
			want = "i Authentication-Results,q OK: dnsbl: listed"
		}
		if strings.Join(got, ",") != want {
			t.Errorf("hold=%v: modifications %q, want %q", hold, got, want)
		}
	}
}

// TestMessageRebuilt: the Data stage sees the message as it was on the
// wire, so DKIM can verify it.
func TestMessageRebuilt(t *testing.T) {
	var mu sync.Mutex
	var seen []verdict.Session
	record := check{"record", verdict.Data, func(s *verdict.Session) verdict.Result {
		mu.Lock()
		seen = append(seen, *s)
		mu.Unlock()
		return verdict.Result{}
	}}
	addr := startFilter(t, &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{record}}, MaxMessageBytes: 1000})
	m := connect(t, addr, "2001:db8::1", "mail.example.org")
	msg := "Subject: folded\r\n\tline\r\nX-Tab:\tvalue\r\nX-Empty:\r\n" + cleanMessage
	m.send("alice@example.org", []string{"bob@example.net"}, msg)
	m.send("", []string{"bob@example.net"}, cleanMessage+strings.Repeat("x", 1000))
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("data stage ran %d times, want once (the second message is too big: refused)", len(seen))
	}
	s := seen[0]
	if string(s.Message) != msg {
		t.Errorf("message rebuilt as\n%q\nwant\n%q", s.Message, msg)
	}
	if s.IP.String() != "2001:db8::1" || s.HELO != "mail.example.org" || s.MailFrom != "alice@example.org" || !s.TLS {
		t.Errorf("session %+v", s)
	}
}

func TestReplyCode(t *testing.T) {
	for _, tc := range []struct {
		d    verdict.Decision
		want string
	}{
		{verdict.Decision{Action: verdict.Reject, Code: 550, Enhanced: "5.7.26", Message: "DMARC"}, "550 5.7.26 DMARC\x00"},
		{verdict.Decision{Action: verdict.Reject, Code: 451, Enhanced: "4.7.1", Message: "x"}, "550 5.7.1 x\x00"},
		{verdict.Decision{Action: verdict.TempFail, Code: 0, Enhanced: "", Message: "50% off"}, "451 4.7.1 50%% off\x00"},
		{verdict.Decision{Action: verdict.TempFail, Code: 421, Enhanced: "4.4.3", Message: "a\r\nb"}, "421 4.4.3 ab\x00"},
	} {
		if got := string(replyCode(tc.d).data); got != tc.want {
			t.Errorf("replyCode(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// BenchmarkMessage measures one message through the milter protocol over
// loopback, from MAIL to the end of the body, with a trivial policy.
func BenchmarkMessage(b *testing.B) {
	f := &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}, AuthservID: "mx.example.net"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := f.Server()
	go srv.Serve(ln)
	defer srv.Close()
	m := connect(b, ln.Addr().String(), "192.0.2.10", "mail.example.org")
	b.ReportAllocs()
	for b.Loop() {
		if _, act := m.send("alice@example.org", []string{"bob@example.net"}, cleanMessage); act.Code != milter.ActAccept {
			b.Fatalf("action %c", act.Code)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
