package verify

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

const senderZone = `
$ORIGIN example.org.
@        MX   10 mx
mx       A    192.0.2.25
aonly    A    192.0.2.26
sixonly  AAAA 2001:db8::26
nullmx   MX   0 .
nullmx   A    192.0.2.27
mixed    MX   0 .
mixed    MX   10 mx.example.org.
txtonly  TXT  "v=spf1 -all"
mxfail   A    192.0.2.28
afail    TXT  "no mx, no address"
`

func TestCheckSenderDomain(t *testing.T) {
	r := resolvertest.MustNew(senderZone)
	r.SetTimeoutAfter(20 * time.Millisecond)
	r.SetFaultType("mxfail.example.org", dns.TypeMX, resolvertest.ServFail)
	r.SetFaultType("afail.example.org", dns.TypeA, resolvertest.Timeout)
	r.SetFault("down.example.org", resolvertest.Refused)
	def := DefaultSenderDomainScores

	tests := []struct {
		from     string
		o        *SenderDomainOptions
		status   verdict.Status
		action   verdict.Action
		code     int
		enhanced string
		score    float64
		domain   string
	}{
		{"a@example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "example.org"},
		{"<a@Example.ORG>", nil, verdict.Pass, verdict.Accept, 0, "", 0, "example.org"},
		{"<@relay.example,@other.example:a@example.org.>", nil, verdict.Pass, verdict.Accept, 0, "", 0, "example.org"},
		{"a@aonly.example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "aonly.example.org"},
		{"a@sixonly.example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "sixonly.example.org"},
		// RFC 7505: a null MX accepts no mail, whatever its addresses.
		{"a@nullmx.example.org", nil, verdict.Fail, verdict.Reject, 550, "5.7.27", def.NullMX, "nullmx.example.org"},
		{"a@nullmx.example.org", &SenderDomainOptions{ScoreOnly: true}, verdict.Fail, verdict.Accept, 0, "", def.NullMX, "nullmx.example.org"},
		// A null MX among others is a mistake; the others are used.
		{"a@mixed.example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "mixed.example.org"},
		// Unknown: 450 4.1.8 by default (Postfix), 550 5.1.8 on request.
		{"a@nowhere.example.org", nil, verdict.Fail, verdict.TempFail, 450, "4.1.8", def.Unknown, "nowhere.example.org"},
		{"a@txtonly.example.org", nil, verdict.Fail, verdict.TempFail, 450, "4.1.8", def.Unknown, "txtonly.example.org"},
		{"a@nowhere.example.org", &SenderDomainOptions{RejectUnknown: true}, verdict.Fail, verdict.Reject, 550, "5.1.8", def.Unknown, "nowhere.example.org"},
		{"a@nowhere.example.org", &SenderDomainOptions{ScoreOnly: true, Scores: &SenderDomainScores{Unknown: 2}}, verdict.Fail, verdict.Accept, 0, "", 2, "nowhere.example.org"},
		// Bad syntax is permanent: a retry cannot mend it.
		{"not-an-address", nil, verdict.Fail, verdict.Reject, 501, "5.1.7", def.Invalid, ""},
		{"a@bad..example.org", nil, verdict.Fail, verdict.Reject, 501, "5.1.7", def.Invalid, "bad..example.org"},
		{"@example.org", nil, verdict.Fail, verdict.Reject, 501, "5.1.7", def.Invalid, "example.org"},
		{"a@", nil, verdict.Fail, verdict.Reject, 501, "5.1.7", def.Invalid, ""},
		{"a@-x-.example.org", nil, verdict.Fail, verdict.Reject, 501, "5.1.7", def.Invalid, "-x-.example.org"},
		{"not-an-address", &SenderDomainOptions{ScoreOnly: true}, verdict.Fail, verdict.Accept, 0, "", def.Invalid, ""},
		// DNS failures are no evidence.
		{"a@mxfail.example.org", &SenderDomainOptions{RejectUnknown: true}, verdict.TempError, verdict.Accept, 0, "", 0, "mxfail.example.org"},
		{"a@afail.example.org", &SenderDomainOptions{RejectUnknown: true}, verdict.TempError, verdict.Accept, 0, "", 0, "afail.example.org"},
		{"a@down.example.org", &SenderDomainOptions{RejectUnknown: true}, verdict.TempError, verdict.Accept, 0, "", 0, "down.example.org"},
		// Nothing to check.
		{"", nil, verdict.None, verdict.Accept, 0, "", 0, ""},
		{"<>", nil, verdict.None, verdict.Accept, 0, "", 0, ""},
		{"a@[192.0.2.1]", nil, verdict.None, verdict.Accept, 0, "", 0, ""},
	}
	for _, tt := range tests {
		res := CheckSenderDomain(context.Background(), r, tt.from, tt.o)
		if res.Check != SenderDomainName || res.Status != tt.status || res.Action != tt.action ||
			res.Code != tt.code || res.Enhanced != tt.enhanced || res.Score != tt.score || res.Domain != tt.domain {
			t.Errorf("%q %+v: got %+v", tt.from, tt.o, res)
		}
		if (res.Status == verdict.TempError) != (res.Err != nil) {
			t.Errorf("%q: status %v, err %v", tt.from, res.Status, res.Err)
		}
		if res.Reason == "" || verdict.Printable(res.Reason) != res.Reason {
			t.Errorf("%q: reason %q", tt.from, res.Reason)
		}
	}
}

func TestSenderDomainCheck(t *testing.T) {
	r := resolvertest.MustNew(senderZone)
	scores := SenderDomainScores{Invalid: 1, Unknown: 2, NullMX: 3}
	o := &SenderDomainOptions{RejectUnknown: true, Scores: &scores}
	c := NewSenderDomain(r, o)
	// Later changes to the options do not affect the check.
	o.RejectUnknown = false
	scores.Unknown = 9
	if c.Name() != SenderDomainName || c.Stage() != verdict.Mail {
		t.Errorf("name %q stage %v", c.Name(), c.Stage())
	}
	if res := c.Evaluate(context.Background(), "a@nowhere.example.org"); res.Action != verdict.Reject || res.Score != 2 {
		t.Errorf("evaluate: %+v", res)
	}
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	d := p.Evaluate(context.Background(), &verdict.Session{MailFrom: "a@nullmx.example.org"}, verdict.Mail)
	if d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.7.27" {
		t.Errorf("decision %+v", d)
	}
	d = p.Evaluate(context.Background(), &verdict.Session{MailFrom: "not-an-address"}, verdict.Mail)
	if d.Action != verdict.Reject || d.Code != 501 || d.Enhanced != "5.1.7" {
		t.Errorf("decision %+v", d)
	}
}
