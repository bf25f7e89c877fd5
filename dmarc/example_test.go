package dmarc_test

import (
	"context"
	"fmt"
	"strings"

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
