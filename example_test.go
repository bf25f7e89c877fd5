package mtaguard_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/helo"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// Example composes the policy of the package documentation over a test
// zone and walks one session through it, as an SMTP server does.
func Example() {
	r := resolvertest.MustNew(`
$ORIGIN example.org.
@                        TXT  "v=spf1 ip4:192.0.2.0/24 -all"
@                        MX   10 mail
mail                     A    192.0.2.10
_dmarc                   TXT  "v=DMARC1; p=reject"
10.2.0.192.in-addr.arpa. PTR  mail.example.org.
`)
	p := &verdict.Policy{
		Checks: []verdict.Check{
			fcrdns.New(r, nil),
			dnsbl.New(r, []dnsbl.List{{Zone: "bl.example", Score: 8}}, nil),
			helo.New(r, &helo.Options{LocalNames: []string{"example.net"}}),
			spf.New(r, nil),
			relay.New(&relay.Policy{LocalDomains: []string{"example.net"}}),
			greylist.New(greylist.NewMemory(), nil),
			dkim.New(r, nil),
			dmarc.New(r, nil),
		},
		Quarantine: 6,
		Reject:     15,
	}
	ctx := context.Background()
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.10")}
	fmt.Println(p.Evaluate(ctx, s, verdict.Connect))
	s.HELO = "mail.example.org"
	fmt.Println(p.Evaluate(ctx, s, verdict.Helo))
	s.MailFrom = "alice@example.org"
	fmt.Println(p.Evaluate(ctx, s, verdict.Mail))
	fmt.Println(p.Evaluate(ctx, s.ForRcpt("eve@elsewhere.example"), verdict.Rcpt))
	fmt.Println(p.Evaluate(ctx, s.ForRcpt("bob@example.net"), verdict.Rcpt))
	// Output:
	// 250 2.0.0 OK
	// 250 2.0.0 OK
	// 250 2.1.0 OK
	// 554 5.7.1 Relay access denied
	// 451 4.7.1 greylisted, try again later
}
