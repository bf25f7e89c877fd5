package verify_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
	"github.com/mtaguard/mtaguard/verify"
)

func ExampleCheckSenderDomain() {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@        MX 10 mx.example.org.
mx       A  192.0.2.25
nomail   MX 0 .
`)
	ctx := context.Background()
	for _, from := range []string{"joe@example.org", "joe@nomail.example.org", "joe@nowhere.example.org", "not-an-address"} {
		res := verify.CheckSenderDomain(ctx, r, from, nil)
		fmt.Printf("%s %s %d %s: %s\n", res.Status, res.Action, res.Code, res.Enhanced, res.Reason)
	}
	// Output:
	// pass accept 0 : sender domain example.org has MX records
	// fail reject 550 5.7.27: sender domain nomail.example.org accepts no mail (null MX)
	// fail tempfail 450 4.1.8: sender domain nowhere.example.org has no MX or address records
	// fail reject 501 5.1.7: sender address not-an-address has bad syntax
}

// inside is the inside server of example.org: it knows alice only.
type inside struct{}

func (inside) Mail(string, *smtp.MailOptions) error { return nil }
func (inside) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "alice@example.org" {
		return nil
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
}
func (inside) Data(io.Reader) error { return nil }
func (inside) Reset()               {}
func (inside) Logout() error        { return nil }

// A border MX refuses mail for users its inside server does not know,
// asking that server by callout.
func ExampleNewRecipient() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return inside{}, nil }))
	go srv.Serve(l)
	defer srv.Close()

	c := &verify.Callout{
		HELO:  "mx.example.org",
		Route: func(string) []string { return []string{l.Addr().String()} },
		Cache: verify.NewMemoryCache(),
	}
	p := &verdict.Policy{Checks: []verdict.Check{
		verify.NewRecipient(c, &verify.Options{Reject: true, Defer: true, Domains: []string{"example.org"}}),
	}}
	for _, rcpt := range []string{"alice@example.org", "bob@example.org"} {
		d := p.Evaluate(context.Background(), &verdict.Session{MailFrom: "joe@example.net", Rcpt: rcpt}, verdict.Rcpt)
		fmt.Println(rcpt, d.Code, d.Enhanced)
	}
	// Output:
	// alice@example.org 250 2.1.5
	// bob@example.org 550 5.1.1
}
