package main

import (
	"io"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
)

// insideSession is the inside server behind the border MX: it knows
// bob@example.net only.
type insideSession struct{}

func (insideSession) Mail(string, *smtp.MailOptions) error { return nil }
func (insideSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "bob@example.net" {
		return nil
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown in local recipient table"}
}
func (insideSession) Data(io.Reader) error { return nil }
func (insideSession) Reset()               {}
func (insideSession) Logout() error        { return nil }

// TestEndToEndVerifyRecipient: with -verify-recipient the border MX asks
// the inside server about each recipient of its domains, and refuses
// unknown users during the dialogue (550 5.1.1) instead of bouncing later;
// when the inside server cannot be asked, it defers (450 4.1.1).
func TestEndToEndVerifyRecipient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return insideSession{}, nil }))
	go srv.Serve(l)
	defer srv.Close()

	addr, maildir, _ := startMain(t, "-verify-recipient", l.Addr().String())
	if err := send(addr, "mail.example.org", "alice@example.org", []string{"bob@example.net"}, cleanMessage); err != nil {
		t.Fatalf("known recipient: %v", err)
	}
	err = send(addr, "mail.example.org", "alice@example.org", []string{"nobody@example.net"}, cleanMessage)
	wantReply(t, err, 550, "5.1.1")
	if msgs := delivered(t, maildir); len(msgs) != 1 {
		t.Errorf("%d messages delivered, want 1", len(msgs))
	}

	// The inside server is down.
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	addr, _, _ = startMain(t, "-verify-recipient", down.Addr().String())
	err = send(addr, "mail.example.org", "alice@example.org", []string{"carol@example.net"}, cleanMessage)
	wantReply(t, err, 450, "4.1.1")
}
