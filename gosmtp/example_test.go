package gosmtp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"strings"

	gosmtpserver "github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/verdict"
)

// localOnly refuses recipients outside example.net, as package relay does.
type localOnly struct{}

func (localOnly) Name() string         { return "relay" }
func (localOnly) Stage() verdict.Stage { return verdict.Rcpt }
func (localOnly) Check(_ context.Context, s *verdict.Session) verdict.Result {
	if strings.HasSuffix(s.Rcpt, "@example.net") {
		return verdict.Result{Status: verdict.Pass}
	}
	return verdict.Result{Status: verdict.Fail, Action: verdict.Reject, Code: 554, Enhanced: "5.7.1", Reason: "Relay access denied"}
}

// mailbox is the backend behind the policy; it sees only what the policy
// accepts.
type mailbox struct{}

func (m mailbox) NewSession(*gosmtpserver.Conn) (gosmtpserver.Session, error) { return m, nil }
func (mailbox) Mail(string, *gosmtpserver.MailOptions) error                  { return nil }
func (mailbox) Rcpt(string, *gosmtpserver.RcptOptions) error                  { return nil }
func (mailbox) Data(r io.Reader) error                                        { _, err := io.Copy(io.Discard, r); return err }
func (mailbox) Reset()                                                        {}
func (mailbox) Logout() error                                                 { return nil }

func ExampleWrap() {
	p := &verdict.Policy{Checks: []verdict.Check{localOnly{}}}
	o := &gosmtp.Options{Hostname: "mx.example.net"}
	srv := gosmtpserver.NewServer(gosmtp.Wrap(mailbox{}, p, o))
	srv.Domain = o.Hostname
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(gosmtp.Listen(ln, p, o))
	defer srv.Close()

	c, _ := smtp.Dial(ln.Addr().String())
	defer c.Close()
	c.Hello("mail.example.org")
	c.Mail("alice@example.org")
	fmt.Println(c.Rcpt("victim@example.com"))
	fmt.Println(c.Rcpt("bob@example.net"))
	// Output:
	// 554 "5.7.1 Relay access denied"
	// <nil>
}
