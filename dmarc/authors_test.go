package dmarc

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestAuthors(t *testing.T) {
	for _, c := range []struct {
		name, header string
		domains      []string
		fields       int
		malformed    bool
	}{
		{"plain", "From: a@example.com\r\n\r\n", []string{"example.com"}, 1, false},
		// RFC 5322 §3.4.1 / Appendix A.5: comments around and inside the
		// address are valid; net/mail refuses them.
		{"comment before", "From: (Joe) joe@example.com\r\n\r\n", []string{"example.com"}, 1, false},
		{"RFC 5322 A.5", "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n\r\n", []string{"silly.test"}, 1, false},
		{"obsolete spaces around dots", "From: john . doe @ example . org\r\n\r\n", []string{"example.org"}, 1, false},
		{"obs-route", "From: <@relay.example,@other.example:joe@example.org>\r\n\r\n", []string{"example.org"}, 1, false},
		{"obs-phrase with dot", "From: John Q. Public <jqp@example.org>\r\n\r\n", []string{"example.org"}, 1, false},
		{"Latin-1 display name", "From: J\xf6rg M\xfcller <j@example.org>\r\n\r\n", []string{"example.org"}, 1, false},
		{"encoded word display name", "From: =?iso-8859-1?q?J=F6rg?= <j@example.org>\r\n\r\n", []string{"example.org"}, 1, false},
		{"two addresses", "From: a@example.com, b@Example.NET\r\n\r\n", []string{"example.com", "example.net"}, 1, false},
		{"empty list elements (obs)", "From: , a@example.com,, \r\n\r\n", []string{"example.com"}, 1, false},
		{"group", "From: team: a@example.com, b@example.org;\r\n\r\n", []string{"example.com", "example.org"}, 1, false},
		{"display name with an address in quotes", "From: \"security@paypal.com\" <x@evil.example>\r\n\r\n", []string{"evil.example"}, 1, false},
		{"two From fields", "From: a@example.com\r\nSubject: x\r\nfrom : b@paypal.com\r\n\r\n", []string{"example.com", "paypal.com"}, 2, false},
		{"same domain twice", "From: a@example.com\r\nFrom: b@EXAMPLE.com.\r\n\r\n", []string{"example.com"}, 2, true},
		{"address literal", "From: <x@[192.0.2.1]>\r\n\r\n", nil, 1, false},
		{"empty group", "From: undisclosed-recipients:;\r\n\r\n", nil, 1, false},
		{"no From", "Subject: x\r\n\r\n", nil, 0, false},
		{"From in the body", "Subject: x\r\n\r\nFrom: a@example.com\r\n", nil, 0, false},

		// Malformed fields, read leniently: every domain a reader could
		// show.
		{"trailing dot", "From: <alice@example.org.>\r\n\r\n", []string{"example.org"}, 1, true},
		{"unclosed angle", "From: PayPal <security@paypal.com\r\n\r\n", []string{"paypal.com"}, 1, true},
		{"unclosed quote", "From: \"PayPal <security@paypal.com>\r\n\r\n", []string{"paypal.com"}, 1, true},
		{"unclosed comment", "From: a@example.org (PayPal <security@paypal.com>\r\n\r\n", []string{"example.org", "paypal.com"}, 1, true},
		{"unquoted address as display name", "From: x@good.example <x@evil.example>\r\n\r\n", []string{"good.example", "evil.example"}, 1, true},
		{"encoded word holding the address", "From: =?utf-8?q?=3Csecurity=40paypal=2Ecom=3E?=\r\n\r\n", []string{"paypal.com"}, 1, true},
		{"encoded word in angle brackets", "From: <=?utf-8?q?security=40paypal.com?=>\r\n\r\n", []string{"paypal.com"}, 1, true},
		{"comment after the at sign, trailing dot", "From: <a@ (x) example.org.>\r\n\r\n", []string{"example.org"}, 1, true},
		{"NUL in the field", "From: a@example.org\x00 <b@paypal.com>\r\n\r\n", []string{"example.org", "paypal.com"}, 1, true},
		{"no domain at all", "From: PayPal Security\r\n\r\n", nil, 1, true},
		{"bad domain only", "From: <a@exa_mple-.com>\r\n\r\n", nil, 1, false},

		// Lines as readers split them.
		{"bare CR before From", "X-A: b\rFrom: security@paypal.com\r\nFrom: me@example.org\r\n\r\n", []string{"paypal.com", "example.org"}, 2, false},
		{"bare LF", "X-A: b\nFrom: security@paypal.com\r\n\r\n", []string{"paypal.com"}, 1, false},
		{"folded", "From: PayPal\r\n <security@paypal.com>\r\n\r\n", []string{"paypal.com"}, 1, false},
	} {
		a, err := Authors(strings.NewReader(c.header))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(a.Domains, c.domains) || a.Fields != c.fields || a.Malformed != c.malformed {
			t.Errorf("%s: Authors = %+v; want domains %q, %d fields, malformed %v", c.name, a, c.domains, c.fields, c.malformed)
		}
	}
}

// TestFromStrict: the RFC 5322 comment forms that net/mail refused now
// parse in From too.
func TestFromStrict(t *testing.T) {
	for in, want := range map[string]string{
		"From: (Joe) joe@example.com\r\n\r\n":                                          "example.com",
		"From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n\r\n": "silly.test",
		"From: J\xf6rg <j@example.org>\r\n\r\n":                                        "example.org",
	} {
		if got, err := From(strings.NewReader(in)); got != want || err != nil {
			t.Errorf("From(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestCheckAuthors: the Checker evaluates every author domain and applies
// the strictest outcome; a From a reader shows must never make a forged
// message safer than the plain forgery (the mutations of the attack on
// examples/smtpd).
func TestCheckAuthors(t *testing.T) {
	zone := `_dmarc.paypal.com. TXT "v=DMARC1; p=reject"
_dmarc.example.org. TXT "v=DMARC1; p=none"
_dmarc.q.example. TXT "v=DMARC1; p=quarantine"
`
	// The attacker's own domain passes SPF and DKIM.
	own := []verdict.Result{spf(authres.ResultPass, "me@attacker.example", ""), dkim("pass d=attacker.example")}
	// A message genuinely signed by example.org.
	signed := []verdict.Result{spf(authres.ResultPass, "list@example.org", ""), dkim("pass d=example.org")}
	c := New(resolvertest.MustNew(zone), nil)
	for _, x := range []struct {
		name, msg string
		results   []verdict.Result
		status    verdict.Status
		action    verdict.Action
	}{
		{"plain forgery", "From: security@paypal.com\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"From twice", "From: me@attacker.example\r\nFrom: security@paypal.com\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"two addresses", "From: me@attacker.example, security@paypal.com\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"trailing dot", "From: PayPal <security@paypal.com.>\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"unclosed angle", "From: PayPal <security@paypal.com\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"Latin-1 display name", "From: P\xe4yP\xe4l <security@paypal.com>\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"bare CR before From", "X-A: b\rFrom: security@paypal.com\r\nFrom: me@attacker.example\r\n\r\n", own, verdict.Fail, verdict.Reject},
		{"second From on a signed message", "From: PayPal <security@paypal.com>\r\nFrom: list@example.org\r\n\r\n", signed, verdict.Fail, verdict.Reject},
		{"no domain", "From: PayPal Security\r\n\r\n", own, verdict.PermError, verdict.Reject},
		{"quarantine and none", "From: a@q.example, b@example.org\r\n\r\n", nil, verdict.Fail, verdict.Quarantine},
		{"all pass", "From: list@example.org\r\nFrom: other@example.org\r\n\r\n", signed, verdict.Pass, verdict.Accept},
		{"pass and no record", "From: list@example.org, x@norecord.example\r\n\r\n", signed, verdict.None, verdict.Accept},
	} {
		res := c.Check(context.Background(), &verdict.Session{Message: []byte(x.msg), Results: x.results})
		if res.Status != x.status || res.Action != x.action {
			t.Errorf("%s: %v %v, want %v %v (%s)", x.name, res.Status, res.Action, x.status, x.action, res.Reason)
		}
		if x.action == verdict.Reject && (res.Code != 550 || res.Enhanced != "5.7.26") {
			t.Errorf("%s: reply %d %s, want 550 5.7.26", x.name, res.Code, res.Enhanced)
		}
		if x.name != "plain forgery" && x.status != verdict.Pass && res.Score <= DefaultScores.Monitor {
			t.Errorf("%s: score %v", x.name, res.Score)
		}
	}

	// The options: refuse several authors outright; accept a From
	// without domain with PermError.
	strict := New(resolvertest.MustNew(zone), &Options{RejectMultipleAuthors: true, AcceptNoAuthor: true})
	res := strict.Check(context.Background(), &verdict.Session{Message: []byte("From: list@example.org, a@example.com\r\n\r\n"), Results: signed})
	if res.Action != verdict.Reject || res.Code != 550 || res.Enhanced != "5.7.26" {
		t.Errorf("RejectMultipleAuthors: %v %d %s (%s)", res.Action, res.Code, res.Enhanced, res.Reason)
	}
	res = strict.Check(context.Background(), &verdict.Session{Message: []byte("From: nobody\r\n\r\n")})
	if res.Action != verdict.Accept || res.Status != verdict.PermError || res.Score != DefaultScores.BadFrom {
		t.Errorf("AcceptNoAuthor: %v %v %v (%s)", res.Status, res.Action, res.Score, res.Reason)
	}
	// More author domains than are evaluated: refused.
	var many []string
	for i := range maxAuthors + 1 {
		many = append(many, "a@d"+string(rune('a'+i))+".example")
	}
	res = c.Check(context.Background(), &verdict.Session{Message: []byte("From: " + strings.Join(many, ", ") + "\r\n\r\n")})
	if res.Action != verdict.Reject {
		t.Errorf("%d authors: %v (%s)", len(many), res.Action, res.Reason)
	}
}
