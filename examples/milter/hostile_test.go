package main

import (
	"strings"
	"testing"

	"github.com/emersion/go-milter"

	"github.com/mtaguard/mtaguard/verdict"
)

// sendRaw runs one transaction with the header fields given as the MTA
// passes them (name, value) and the body.
func (m *mta) sendRaw(from, rcpt string, fields [][2]string, body string) ([]milter.ModifyAction, *milter.Action) {
	m.t.Helper()
	m.cont(m.s.Mail(from, nil))
	m.cont(m.s.Rcpt(rcpt, nil))
	for _, f := range fields {
		m.cont(m.s.HeaderField(f[0], f[1]))
	}
	m.cont(m.s.HeaderEnd())
	mods, act, err := m.s.BodyReadFrom(strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	return mods, act
}

// TestOversizeRefused: a message over MaxMessageBytes skipped the Data
// stage, so a forged message of 33 MiB was accepted with no DKIM or DMARC
// result. It is refused now, 552 5.3.4, and nothing is added to it.
func TestOversizeRefused(t *testing.T) {
	dataRan := false
	data := check{"data", verdict.Data, func(*verdict.Session) verdict.Result {
		dataRan = true
		return verdict.Result{Status: verdict.Pass}
	}}
	addr := startFilter(t, &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck, data}}, MaxMessageBytes: 4096})
	m := connect(t, addr, "203.0.113.66", "example.org")
	forged := "From: PayPal <security@paypal.com>\r\nSubject: verify\r\n\r\n" + strings.Repeat("x", 8192) + "\r\n"
	mods, act := m.send("alice@example.org", []string{"bob@example.net"}, forged)
	if act.Code != milter.ActReplyCode || act.SMTPCode != 552 || !strings.HasPrefix(act.SMTPText, "5.3.4 ") {
		t.Errorf("oversized message: action %c %d %q, want 552 5.3.4", act.Code, act.SMTPCode, act.SMTPText)
	}
	if len(mods) != 0 || dataRan {
		t.Errorf("oversized message: modifications %+v, data stage ran %v", mods, dataRan)
	}
	// The next message on the connection is judged as usual.
	if _, act := m.send("alice@example.org", []string{"bob@example.net"}, cleanMessage); act.Code != milter.ActAccept || !dataRan {
		t.Errorf("next message: action %c %d %q, data stage ran %v", act.Code, act.SMTPCode, act.SMTPText, dataRan)
	}
}

// TestMalformedHeaderRefused: a header section that begins with a
// continuation line, or holds a bare CR, makes mail readers see fields the
// milter was not shown (a forged Authentication-Results in our name) or
// extend the field on top: refused, 550 5.6.0, with nothing added.
func TestMalformedHeaderRefused(t *testing.T) {
	addr := startFilter(t, &Filter{Policy: &verdict.Policy{Checks: []verdict.Check{spfCheck, relayCheck}}})
	m := connect(t, addr, "192.0.2.10", "mail.example.org")
	from := [2]string{"From", " Alice <alice@example.org>"}
	for _, tc := range []struct {
		name   string
		fields [][2]string
		body   string
	}{
		{"leading continuation", [][2]string{{" ; dkim=pass header.d=paypal.com; dmarc=pass header.from=paypal.com", ""}, from}, "Hi.\r\n"},
		{"leading continuation, tab", [][2]string{{"\t; dkim=pass", ""}, from}, "Hi.\r\n"},
		{"bare CR in a value", [][2]string{{"X-Foo", " bar\rAuthentication-Results: mx.example.net; dkim=pass header.d=paypal.com"}, from}, "Hi.\r\n"},
		{"bare CR at the end", [][2]string{from, {"Subject", " hi\r"}}, "Hi.\r\n"},
		{"no fields, body opens with a continuation", nil, " ; dkim=pass header.d=paypal.com\r\nFrom: a@paypal.com\r\n\r\nHi.\r\n"},
		{"no fields, bare CR", nil, "X-Foo: bar\rAuthentication-Results: mx.example.net; dkim=pass\r\n\r\nHi.\r\n"},
	} {
		mods, act := m.sendRaw("alice@example.org", "bob@example.net", tc.fields, tc.body)
		if act.Code != milter.ActReplyCode || act.SMTPCode != 550 || !strings.HasPrefix(act.SMTPText, "5.6.0 ") {
			t.Errorf("%s: action %c %d %q, want 550 5.6.0", tc.name, act.Code, act.SMTPCode, act.SMTPText)
		}
		if len(mods) != 0 {
			t.Errorf("%s: modifications %+v", tc.name, mods)
		}
	}
	// Folds as Postfix passes them (bare LF, CRLF) are no bare CR.
	fields := [][2]string{from, {"Subject", " folded\n\tline"}, {"X-Other", " a\r\n b"}}
	if _, act := m.sendRaw("alice@example.org", "bob@example.net", fields, "Hi.\r\n"); act.Code != milter.ActAccept {
		t.Errorf("well-formed message: action %c %d %q, want accept", act.Code, act.SMTPCode, act.SMTPText)
	}
	if _, act := m.sendRaw("alice@example.org", "bob@example.net", nil, "Hi, no header.\r\n"); act.Code != milter.ActAccept {
		t.Errorf("message without fields: action %c %d %q, want accept", act.Code, act.SMTPCode, act.SMTPText)
	}
}
