package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/verdict"
)

// TestSideBySidePostfix runs Postfix's own reject_unverified_recipient and
// NewRecipient against the same targets in one run, and compares their
// answer to RCPT for every address: the class of the reply (2xx, 4xx,
// 5xx) must be the same, except where we differ on purpose:
//
//   - a target that refuses MAIL FROM:<> with a 5xx: Postfix takes the
//     bounce of its probe as "undeliverable" and refuses the address (5xx);
//     we take it as the target refusing us, not the address, and defer
//     (4xx), so that a server that refuses the null sender (against RFC
//     5321 §6.1) does not make its users unreachable.
func TestSideBySidePostfix(t *testing.T) {
	if testing.Short() {
		t.Skip("two Postfix instances: not in -short")
	}
	target := targetPostfix(t)
	sink := smtpSink(t, "127.0.0.6")
	refuseRcpt := smtpSink(t, "127.0.0.6", "-f", "RCPT")
	softRcpt := smtpSink(t, "127.0.0.6", "-r", "RCPT")
	refuseMail := smtpSink(t, "127.0.0.6", "-f", "MAIL")
	busy := scripted(t, "127.0.0.3", func(c net.Conn) { fmt.Fprint(c, "421 4.3.2 busy\r\n") })
	hang := silent(t, "127.0.0.4")
	l := listen(t, "127.0.0.5")
	down := l.Addr().String()
	l.Close()

	routes := map[string]string{
		"example.test": target.addr, "sink.test": sink, "refuse.test": refuseRcpt, "soft.test": softRcpt,
		"nobounce.test": refuseMail, "busy.test": busy, "hang.test": hang, "down.test": down,
	}
	var transport, domains []string
	for d, a := range routes {
		host, port := hostPort(a)
		transport = append(transport, fmt.Sprintf("%s=smtp:[%s]:%d", d, host, port))
		domains = append(domains, d)
	}
	front := startPostfix(t, "127.0.0.9", "front.test", `mydestination =
relay_domains = `+strings.Join(domains, " ")+`
transport_maps = inline:{`+strings.Join(transport, ", ")+`}
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_recipient_restrictions = reject_unverified_recipient
unverified_recipient_reject_code = 550
unverified_recipient_defer_code = 450
unverified_recipient_tempfail_action = defer
address_verify_sender =
address_verify_poll_count = 15
address_verify_poll_delay = 1s
smtp_connect_timeout = 2s
smtp_helo_timeout = 2s
smtp_rcpt_timeout = 2s
smtp_mail_timeout = 2s
smtp_skip_5xx_greeting = no
`)

	c := &Callout{HELO: "front.test", Timeout: 3 * time.Second,
		Route: func(d string) []string { return []string{routes[d]} }}
	p := &verdict.Policy{Checks: []verdict.Check{NewRecipient(c, &Options{Reject: true, Defer: true})}}

	tests := []struct {
		rcpt string
		want int // the reply class both give
		ours int // ours, where we differ on purpose
	}{
		{"alice@example.test", 2, 0},
		{"bob@example.test", 5, 0},
		{"anyone@sink.test", 2, 0}, // a catch-all: we say Neutral, and accept
		{"anyone@refuse.test", 5, 0},
		{"anyone@soft.test", 4, 0},
		{"anyone@busy.test", 4, 0},
		{"anyone@hang.test", 4, 0},
		{"anyone@down.test", 4, 0},
		{"anyone@nobounce.test", 5, 4},
	}
	type answer struct {
		code int
		text string
	}
	postfixAnswers := make([]answer, len(tests))
	done := make(chan int)
	for i, tt := range tests {
		go func() {
			code, text := rcptReply(front.addr, tt.rcpt)
			postfixAnswers[i] = answer{code, text}
			done <- i
		}()
	}
	for range tests {
		<-done
	}
	for i, tt := range tests {
		d := p.Evaluate(context.Background(), &verdict.Session{MailFrom: "joe@client.test", Rcpt: tt.rcpt}, verdict.Rcpt)
		pf := postfixAnswers[i]
		want := tt.want
		if tt.ours != 0 {
			want = tt.ours
		}
		t.Logf("%-22s Postfix: %d %s | verify: %d %s %s", tt.rcpt, pf.code, pf.text, d.Code, d.Enhanced, d.Message)
		if pf.code/100 != tt.want {
			t.Errorf("%s: Postfix answered %d %s, want %dxx", tt.rcpt, pf.code, pf.text, tt.want)
		}
		if d.Code/100 != want {
			t.Errorf("%s: verify answered %d %s %s, want %dxx", tt.rcpt, d.Code, d.Enhanced, d.Message, want)
		}
	}
}

// rcptReply asks the server at addr about rcpt, up to RCPT, and returns
// the reply.
func rcptReply(addr, rcpt string) (int, string) {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return 0, err.Error()
	}
	defer cl.Close()
	cl.CommandTimeout = 30 * time.Second
	if err := cl.Hello("client.test"); err != nil {
		return 0, err.Error()
	}
	if err := cl.Mail("joe@client.test", nil); err != nil {
		return 0, err.Error()
	}
	err = cl.Rcpt(rcpt, nil)
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return 250, "ok"
	case errors.As(err, &se):
		return se.Code, se.Error()
	}
	return 0, err.Error()
}
