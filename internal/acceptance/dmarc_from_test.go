package acceptance

import (
	"bytes"
	"context"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// forgedZone adds a domain that asks receivers to reject what it did not
// send.
const forgedZone = `forged.example. SOA ns.forged.example. hostmaster.forged.example. 1 7200 3600 1209600 300
forged.example. MX 10 mx.forged.example.
mx.forged.example. A 192.0.2.99
_dmarc.forged.example. TXT "v=DMARC1; p=reject"
`

// forgedFroms are From field values that show a mail reader the author
// security@forged.example, in the forms RFC 5322 allows (obsolete syntax
// included) and in broken ones readers still display.
var forgedFroms = []string{
	"security@forged.example",
	"Security <security@forged.example>",
	"(Security) security@forged.example",
	"Security(team) <security(desk)@forged.example(mail)>",
	"security @ forged . example",
	"<@relay.example:security@forged.example>",
	"Sec: security@forged.example;",
	"S\xe9curit\xe9 <security@forged.example>",
	"=?utf-8?q?S=C3=A9curit=C3=A9?= <security@FORGED.example>",
	"Security <security@forged.example.>",
	"Security <security@forged.example",
	"\"Security <security@forged.example>",
	"Security <security@forged.example> (unclosed",
	"=?utf-8?q?=3Csecurity=40forged=2Eexample=3E?=",
	"security@forged.example <x@example.org>",
}

// TestDMARCFromCannotEscape: a message the world's sender genuinely sent
// and signed (SPF and DKIM pass for example.org) gets a forged author
// added in every form above, every place (a From field on top, one below,
// a second address in the same field, one after a bare CR or bare LF), and
// each must be refused 550 5.7.26 at the end of DATA by the real spf,
// dkim and dmarc checks: the strictest author policy applies, whatever
// the From field looks like.
func TestDMARCFromCannotEscape(t *testing.T) {
	r := newWorld(t)
	if err := r.Add(forgedZone); err != nil {
		t.Fatal(err)
	}
	p := &verdict.Policy{Checks: []verdict.Check{spf.New(r, nil), dkim.New(r, nil), dmarc.New(r, nil)}}
	genuine := signedMessage(t)
	ctx := context.Background()

	// The genuine message passes.
	s := worldSession(genuine)
	p.Evaluate(ctx, s, verdict.Mail)
	if d := p.Evaluate(ctx, s, verdict.Data); d.Action != verdict.Accept {
		t.Fatalf("genuine message: %v", d)
	}

	// Where the forged author goes in the signed message.
	places := map[string]func(from string) []byte{
		"field on top": func(f string) []byte { return append([]byte("From: "+f+"\r\n"), genuine...) },
		"field below": func(f string) []byte {
			i := bytes.Index(genuine, []byte("\r\n\r\n"))
			return append(append(append([]byte{}, genuine[:i+2]...), "From: "+f+"\r\n"...), genuine[i+2:]...)
		},
		"same field": func(f string) []byte {
			return bytes.Replace(genuine, []byte("From: Alice <alice@example.org>"), []byte("From: Alice <alice@example.org>, "+f), 1)
		},
		"after a bare CR": func(f string) []byte { return append([]byte("X-Note: hi\rFrom: "+f+"\r\n"), genuine...) },
		"after a bare LF": func(f string) []byte { return append([]byte("X-Note: hi\nFrom: "+f+"\r\n"), genuine...) },
		"folded field":    func(f string) []byte { return append([]byte("From:\r\n "+f+"\r\n"), genuine...) },
		"From with space": func(f string) []byte { return append([]byte("FROM : "+f+"\r\n"), genuine...) },
	}
	n := 0
	for place, build := range places {
		for i, from := range forgedFroms {
			msg := build(from)
			s := worldSession(msg)
			p.Evaluate(ctx, s, verdict.Mail)
			d := p.Evaluate(ctx, s, verdict.Data)
			n++
			if d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.7.26" {
				t.Errorf("%s, form %d %q: %v %d %s, want reject 550 5.7.26\n%s", place, i, from, d.Action, d.Code, d.Enhanced, describe(d.Results))
			}
		}
	}
	t.Logf("%d forged messages, all refused", n)
}

// TestDMARCAuthorsCoverReaders: the author domains package dmarc finds
// include every domain net/mail finds in the same field where it parses
// it (a second, independent RFC 5322 parser), and the forged one in every
// form, parsable or not.
func TestDMARCAuthorsCoverReaders(t *testing.T) {
	for _, from := range forgedFroms {
		a, err := dmarc.Authors(bytes.NewReader(message(from, "hi\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(a.Domains, "forged.example") {
			t.Errorf("%q: Authors %+v misses forged.example", from, a)
		}
		addrs, err := mail.ParseAddressList(from)
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			_, d, _ := strings.Cut(ad.Address, "@")
			if d = strings.ToLower(d); !slices.Contains(a.Domains, d) {
				t.Errorf("%q: net/mail finds %s, Authors %+v", from, d, a)
			}
		}
	}
}
