package main

import (
	"errors"
	"net/smtp"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
)

// relayTestMessage is a plain message from alice@example.org, whose domain
// publishes SPF and DMARC for the test client's address.
const relayTestMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: hello\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

// TestHostileRelayNonASCII drives the real server over SMTP with the
// recipients of a relay attack that hides another domain behind one of
// ours: a soft hyphen, a full-width letter, an ideographic full stop and
// a trailing zero-width space in example.net (ours here) would be folded
// into example.net by an MTA that maps the domain by IDNA, so they must
// not pass as local. The server does not offer SMTPUTF8 (RFC 6531), so an
// 8-bit address is no address: each is refused with 553 5.6.7, while the
// plain local recipient in the same transaction is accepted.
func TestHostileRelayNonASCII(t *testing.T) {
	addr, maildir, _ := startMain(t)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mail.example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		t.Log("the server offers SMTPUTF8; this test sends without it")
	}
	if err := c.Mail("alice@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{
		"victim@exam\u00adple.net",
		"victim@ｅxample.net",
		"victim@example。net",
		"victim@example.net\u200b",
		"vïctim@example.net",
	} {
		err := c.Rcpt(rcpt)
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 553 || !strings.HasPrefix(te.Msg, "5.6.7") {
			t.Errorf("RCPT TO:<%s>: %v, want 553 5.6.7", rcpt, err)
		}
	}
	if err := c.Rcpt("bob@example.net"); err != nil {
		t.Fatalf("RCPT TO:<bob@example.net>: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(relayTestMessage)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	// Delivery is to maildir/new, one file a message.
	if files, _ := filepath.Glob(filepath.Join(maildir, "new", "*")); len(files) != 1 {
		t.Fatalf("%d messages delivered, want 1 (to bob only)", len(files))
	}
}

// TestHostileRelayNonASCIISender: an 8-bit envelope sender without
// SMTPUTF8 is refused too, before any recipient is accepted, so a look-
// alike of our own domain cannot pass the sender rules either.
func TestHostileRelayNonASCIISender(t *testing.T) {
	addr, _, _ := startMain(t)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mail.example.org"); err != nil {
		t.Fatal(err)
	}
	err = c.Mail("ceo@ｅxample.net")
	if err == nil {
		err = c.Rcpt("bob@example.net")
	}
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 553 || !strings.HasPrefix(te.Msg, "5.6.7") {
		t.Errorf("MAIL FROM:<ceo@ｅxample.net>: %v, want 553 5.6.7", err)
	}
}
