package dmarc_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

func ExampleCheck() {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine"`)
	ctx := context.Background()

	// The results of the spf and dkim checks (spf.Check, dkim.Check).
	spf := verdict.Result{Check: "spf", Status: verdict.Pass, Auth: []authres.Result{
		&authres.SPFResult{Value: authres.ResultPass, From: "bounce@mailer.example.net", Helo: "out.example.net"},
	}}
	dkim := verdict.Result{Check: "dkim", Status: verdict.Pass, Auth: []authres.Result{
		&authres.DKIMResult{Value: authres.ResultPass, Domain: "news.example.com"},
	}}

	from, err := dmarc.From(strings.NewReader("From: News <news@news.example.com>\r\nSubject: hi\r\n\r\nbody"))
	if err != nil {
		fmt.Println(err)
		return
	}
	res := dmarc.Check(ctx, r, from, spf, dkim)
	fmt.Println(res.Status, res.Reason)

	// Without the DKIM signature nothing aligned passes: the record of the
	// organizational domain applies, with sp= for a subdomain.
	res = dmarc.Check(ctx, r, from, spf)
	fmt.Println(res.Status, res.Action, res.Reason)

	res = dmarc.Check(ctx, r, "example.com", spf)
	fmt.Println(res.Status, res.Action, res.Code, res.Enhanced)
	d := verdict.Decision{Results: []verdict.Result{res}}
	fmt.Println(d.AuthenticationResults("mx.example.org"))
	// Output:
	// pass news.example.com: aligned DKIM (news.example.com) pass
	// fail quarantine news.example.com: no aligned SPF or DKIM pass, policy quarantine (sp=quarantine) from _dmarc.example.com
	// fail reject 550 5.7.26
	// mx.example.org; dmarc=fail header.from=example.com policy.dmarc=reject policy.published-domain-policy=reject
}

func ExampleOrgDomain() {
	for _, d := range []string{"mail.example.com", "www.example.co.uk", "user.github.io", "co.uk"} {
		fmt.Printf("%q\n", dmarc.OrgDomain(d))
	}
	// Output:
	// "example.com"
	// "example.co.uk"
	// "user.github.io"
	// ""
}

// Authors finds every author domain a mail reader could show, also in a
// From field that does not parse.
func ExampleAuthors() {
	msg := "From: Alice <alice@example.org>\r\n" +
		"From: PayPal <security@paypal.example.\r\n" + // a second From, broken
		"Subject: hi\r\n\r\nbody"
	a, err := dmarc.Authors(strings.NewReader(msg))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Domains, a.Fields, a.Malformed)
	// Output:
	// [example.org paypal.example] 2 true
}

// A Checker with a Store records the evaluations of the messages it sees;
// WriteReport turns those of one policy domain into an RFC 9990 report.
func ExampleWriteReport() {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"`)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	store := &dmarc.MemoryStore{}
	c := dmarc.New(r, &dmarc.Options{Store: store, Now: func() time.Time { return now }})

	// A forgery from 192.0.2.1.
	s := &verdict.Session{
		IP: netip.MustParseAddr("192.0.2.1"), MailFrom: "x@forger.example",
		Message: []byte("From: ceo@example.com\r\n\r\nPay this.\r\n"),
		Results: []verdict.Result{{Check: "spf", Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: "x@forger.example"}}}},
	}
	fmt.Println(c.Check(context.Background(), s).Action)

	evs, _ := store.Evaluations(context.Background(), now.Add(-24*time.Hour), now.Add(time.Second))
	for domain, evs := range dmarc.ByPolicyDomain(evs) {
		var b strings.Builder
		dmarc.WriteReport(&b, dmarc.ReportMetadata{
			OrgName: "mx.example.net", Email: "postmaster@example.net", ReportID: "1@example.net",
			Begin: now.Add(-24 * time.Hour), End: now,
		}, evs)
		fmt.Println(domain, strings.Contains(b.String(), "<disposition>reject</disposition>"))
	}
	// Output:
	// reject
	// example.com true
}
