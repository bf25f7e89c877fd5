package dkim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// The Ed25519 example of RFC 8463 Appendix A.
const message = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n" +
	" d=football.example.com; i=@football.example.com;\r\n" +
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n" +
	" subject : date : message-id : from : subject : date;\r\n" +
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n" +
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n" +
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n" +
	"From: Joe SixPack <joe@football.example.com>\r\n" +
	"To: Suzie Q <suzie@shopping.example.net>\r\n" +
	"Subject: Is dinner ready?\r\n" +
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n" +
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n" +
	"\r\n" +
	"Hi.\r\n" +
	"\r\n" +
	"We lost the game.  Are you hungry yet?\r\n" +
	"\r\n" +
	"Joe.\r\n"

func ExampleCheck() {
	r := resolvertest.MustNew(`
brisbane._domainkey.football.example.com. TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
`)
	res := dkim.Check(context.Background(), r, strings.NewReader(message))
	fmt.Println(res.Status, res.Domain)
	fmt.Println(res.Reason)
	d := verdict.Decision{Results: []verdict.Result{res}}
	fmt.Println(d.AuthenticationResults("mx.example.net"))

	tampered := strings.Replace(message, "lost", "won", 1)
	res = dkim.Check(context.Background(), r, strings.NewReader(tampered))
	fmt.Println(res.Status, res.Reason)
	// Output:
	// pass football.example.com
	// d=football.example.com s=brisbane pass
	// mx.example.net; dkim=pass reason="s=brisbane" header.d=football.example.com header.i=@football.example.com
	// fail d=football.example.com s=brisbane fail (body hash did not verify)
}

func ExampleNew() {
	r := resolvertest.MustNew("") // no key published
	p := &verdict.Policy{Checks: []verdict.Check{
		dkim.New(r, &dkim.Options{Reject: true}), // refuse mail whose signatures are all invalid
	}}
	s := &verdict.Session{Message: []byte(message)}
	d := p.Evaluate(context.Background(), s, verdict.Data)
	fmt.Println(d)
	// Output:
	// 550 5.7.20 d=football.example.com s=brisbane permerror (no key for signature: lookup brisbane._domainkey.football.example.com: no such host)
}

// The flags of a key record: under t=y the signer is testing, and a
// signature that fails weighs no more than none; under t=s the i= of a
// signature must be in d= itself.
func ExampleChecker_Evaluate() {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // a fixed key, for the example only
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	r := resolvertest.MustNew(`
test._domainkey.example.com.   TXT "v=DKIM1; k=ed25519; t=y; p=` + pub + `"
strict._domainkey.example.com. TXT "v=DKIM1; k=ed25519; t=s; p=` + pub + `"
`)
	msg := "From: alice@example.com\r\nSubject: hi\r\n\r\nHello.\r\n"
	sign := func(selector, id string) string {
		var b strings.Builder
		o := &msgdkim.SignOptions{Domain: "example.com", Selector: selector, Identifier: id, Signer: key}
		if err := msgdkim.Sign(&b, strings.NewReader(msg), o); err != nil {
			panic(err)
		}
		return b.String()
	}
	c := dkim.New(r, &dkim.Options{Reject: true})
	for _, m := range []string{
		strings.Replace(sign("test", ""), "Hello", "Hullo", 1),
		sign("strict", "@eng.example.com"),
	} {
		res := c.Evaluate(context.Background(), strings.NewReader(m))
		fmt.Println(res.Status, res.Score, res.Action, res.Reason)
	}
	// Output:
	// fail 0 accept d=example.com s=test fail (body hash did not verify; testing key (t=y))
	// permerror 0.5 reject d=example.com s=strict permerror (i= domain is below d=, which the key's flag t=s forbids (RFC 6376 section 3.6.1))
}
