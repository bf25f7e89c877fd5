package dmarc

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkCheck measures an evaluation with the record found at the
// organizational domain (two TXT lookups in memory) and a failing message.
func BenchmarkCheck(b *testing.B) {
	r := resolvertest.MustNew(`_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"`)
	c := New(r, &Options{Random: func(int) int { return 0 }})
	results := []verdict.Result{
		spf(authres.ResultPass, "bounce@mailer.example.net", "out.example.net"),
		dkim("pass d=example.net", "fail d=news.example.com"),
	}
	for b.Loop() {
		if res := c.Evaluate(context.Background(), "news.example.com", results...); res.Status != verdict.Fail {
			b.Fatal(res.Reason)
		}
	}
}

func BenchmarkFrom(b *testing.B) {
	header := "Received: from a by b; Sat, 21 Nov 2026 12:00:00 +0000\r\n" +
		"From: \"Alice Example\" <alice@news.example.com>\r\n" +
		"To: bob@example.net\r\nSubject: hi\r\nDate: Sat, 21 Nov 2026 12:00:00 +0000\r\n\r\n" + strings.Repeat("body\r\n", 1000)
	for b.Loop() {
		if _, err := From(strings.NewReader(header)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrgDomain(b *testing.B) {
	for b.Loop() {
		OrgDomain("a.b.news.example.co.uk")
	}
}
