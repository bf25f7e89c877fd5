package gosmtp_test

import (
	"errors"
	"io"
	"net"
	"net/smtp"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtpserver "github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/verdict"
)

// authBox is a backend whose sessions do AUTH PLAIN.
type authBox struct{}

func (authBox) NewSession(*gosmtpserver.Conn) (gosmtpserver.Session, error) {
	return &authSess{}, nil
}

type authSess struct{ user string }

func (a *authSess) AuthMechanisms() []string { return []string{sasl.Plain} }
func (a *authSess) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "alice" || pass != "secret" {
			return errors.New("bad password")
		}
		a.user = user
		return nil
	}), nil
}
func (a *authSess) AuthUser() string                             { return a.user }
func (a *authSess) Mail(string, *gosmtpserver.MailOptions) error { return nil }
func (a *authSess) Rcpt(string, *gosmtpserver.RcptOptions) error { return nil }
func (a *authSess) Data(r io.Reader) error                       { _, err := io.Copy(io.Discard, r); return err }
func (a *authSess) Reset()                                       {}
func (a *authSess) Logout() error                                { return nil }

// TestAuthPassedThrough: AUTH goes to the wrapped session, and the policy
// sees who authenticated.
func TestAuthPassedThrough(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	who := check{"who", verdict.Mail, func(s *verdict.Session) verdict.Result {
		mu.Lock()
		seen = append(seen, s.AuthUser)
		mu.Unlock()
		return verdict.Result{}
	}}
	p := &verdict.Policy{Checks: []verdict.Check{who}}
	o := &gosmtp.Options{Hostname: "mx.example.net"}
	s := gosmtpserver.NewServer(gosmtp.Wrap(authBox{}, p, o))
	s.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(gosmtp.Listen(ln, p, o))
	defer s.Close()
	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.org"); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	if err := c.Auth(smtp.PlainAuth("", "alice", "secret", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH through gosmtp: %v", err)
	}
	if err := c.Mail("alice@example.org"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "" || seen[1] != "alice" {
		t.Errorf("the policy saw AuthUser %q, want [\"\" alice]", seen)
	}
}
