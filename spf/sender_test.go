package spf

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

	tests := []struct {
		from     string
		o        *SenderOptions
		status   verdict.Status
		action   verdict.Action
		code     int
		enhanced string
		score    float64
		domain   string
	}{
		{"a@example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "example.org"},
		{"<a@Example.ORG>", nil, verdict.Pass, verdict.Accept, 0, "", 0, "example.org"},
		{"a@aonly.example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "aonly.example.org"},
		{"a@sixonly.example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "sixonly.example.org"},
		// RFC 7505: a null MX accepts no mail, whatever its addresses.
		{"a@nullmx.example.org", nil, verdict.Fail, verdict.Reject, 550, "5.7.27", DefaultSenderScores.NullMX, "nullmx.example.org"},
		{"a@nullmx.example.org", &SenderOptions{ScoreOnly: true}, verdict.Fail, verdict.Accept, 0, "", DefaultSenderScores.NullMX, "nullmx.example.org"},
		// A null MX among others is a mistake; the others are used.
		{"a@mixed.example.org", nil, verdict.Pass, verdict.Accept, 0, "", 0, "mixed.example.org"},
		// Unknown: 450 4.1.8 by default (Postfix), 550 5.1.8 on request.
		{"a@nowhere.example.org", nil, verdict.Fail, verdict.TempFail, 450, "4.1.8", DefaultSenderScores.Unknown, "nowhere.example.org"},
		{"a@txtonly.example.org", nil, verdict.Fail, verdict.TempFail, 450, "4.1.8", DefaultSenderScores.Unknown, "txtonly.example.org"},
		{"a@nowhere.example.org", &SenderOptions{RejectUnknown: true}, verdict.Fail, verdict.Reject, 550, "5.1.8", DefaultSenderScores.Unknown, "nowhere.example.org"},
		{"a@nowhere.example.org", &SenderOptions{ScoreOnly: true, Scores: &SenderScores{Unknown: 2}}, verdict.Fail, verdict.Accept, 0, "", 2, "nowhere.example.org"},
		{"a@bad..example.org", nil, verdict.Fail, verdict.TempFail, 450, "4.1.8", DefaultSenderScores.Unknown, "bad..example.org"},
		// DNS failures are no evidence.
		{"a@mxfail.example.org", &SenderOptions{RejectUnknown: true}, verdict.TempError, verdict.Accept, 0, "", 0, "mxfail.example.org"},
		{"a@afail.example.org", &SenderOptions{RejectUnknown: true}, verdict.TempError, verdict.Accept, 0, "", 0, "afail.example.org"},
		{"a@down.example.org", &SenderOptions{RejectUnknown: true}, verdict.TempError, verdict.Accept, 0, "", 0, "down.example.org"},
		// Nothing to check.
		{"", nil, verdict.None, verdict.Accept, 0, "", 0, ""},
		{"a@[192.0.2.1]", nil, verdict.None, verdict.Accept, 0, "", 0, ""},
	}
	for _, tt := range tests {
		res := CheckSenderDomain(context.Background(), r, tt.from, tt.o)
		if res.Check != "sender-domain" || res.Status != tt.status || res.Action != tt.action ||
			res.Code != tt.code || res.Enhanced != tt.enhanced || res.Score != tt.score || res.Domain != tt.domain {
			t.Errorf("%q %+v: got %+v", tt.from, tt.o, res)
		}
		if (res.Status == verdict.TempError) != (res.Err != nil) {
			t.Errorf("%q: status %v, err %v", tt.from, res.Status, res.Err)
		}
		if res.Reason == "" {
			t.Errorf("%q: no reason", tt.from)
		}
	}
}

func TestSenderDomainCheck(t *testing.T) {
	r := resolvertest.MustNew(senderZone)
	c := NewSenderDomain(r, &SenderOptions{RejectUnknown: true})
	if c.Name() != "sender-domain" || c.Stage() != verdict.Mail {
		t.Errorf("name %q stage %v", c.Name(), c.Stage())
	}
	p := &verdict.Policy{Checks: []verdict.Check{c}}
	d := p.Evaluate(context.Background(), &verdict.Session{MailFrom: "a@nullmx.example.org"}, verdict.Mail)
	if d.Action != verdict.Reject || d.Code != 550 || d.Enhanced != "5.7.27" {
		t.Errorf("decision %+v", d)
	}
}
