package acceptance

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// Bugs found here in other packages, fixed since; each keeps the test that
// showed it, as a regression test.

// TestSPFFamilyFailure (found here, fixed in c4efe58): RFC 7208 §5.3
// looks up "A or AAAA as appropriate for the connection type", and §5 ends
// check_host() with temperror when that lookup fails. The spf package
// handed the library its Resolver's LookupIPAddr, which asks for A and
// AAAA together and, as net does, drops the failure of one when the other
// answers: for an IPv4 client a SERVFAIL on A looked like "no IPv4
// address", and -all gave fail, score 5 (550 5.7.23 with Reject).
func TestSPFFamilyFailure(t *testing.T) {
	r := resolvertest.MustNew(`$ORIGIN example.org.
@     TXT  "v=spf1 a:mail.example.org -all"
mail  A    192.0.2.10
mail  AAAA 2001:db8:25::10
`)
	r.SetFaultType("mail.example.org", dns.TypeA, resolvertest.ServFail)
	res := spf.Check(context.Background(), r, netip.MustParseAddr("192.0.2.10"), "mail.example.org", "a@example.org")
	if res.Status != verdict.TempError {
		t.Errorf("A SERVFAIL, AAAA answers, IPv4 client: %v (score %.1f, %s), want temperror", res.Status, res.Score, res.Reason)
	}
}

// TestDNSBLRDNSEvaluateAll (found here, fixed in a14e43f): the RDNS
// identity reads the fcrdns result from the session. Stage by stage that
// works (fcrdns at Connect, the list at Helo), but EvaluateAll runs every
// check at once and orders only verdict.Dependent checks, so the list was
// never asked: "not checked: no confirmed rDNS name", even for a listed
// name.
func TestDNSBLRDNSEvaluateAll(t *testing.T) {
	r := resolvertest.MustNew(worldZone() + "mail.example.org.dbl.example. A 127.0.0.2\n")
	p := &verdict.Policy{Checks: []verdict.Check{
		fcrdns.New(r, nil),
		dnsbl.New(r, domainLists, &dnsbl.Options{Identity: dnsbl.RDNS}),
	}}
	d := p.EvaluateAll(context.Background(), worldSession(nil))
	for _, res := range d.Results {
		if res.Check == dnsbl.Name && res.Status != verdict.Fail {
			t.Errorf("listed rDNS name under EvaluateAll: %v %q, want fail", res.Status, res.Reason)
		}
	}
	// Stage by stage it works.
	s := worldSession(nil)
	p.Evaluate(context.Background(), s, verdict.Connect)
	p.Evaluate(context.Background(), s, verdict.Helo)
	if res, _ := s.Result(dnsbl.Name); res.Status != verdict.Fail {
		t.Errorf("stage by stage: %v %q, want fail", res.Status, res.Reason)
	}
}

// TestBorderParenHELO (found here, fixed in relay/received.go): Border
// relied on the receiving MTA to replace '(' and ')' in the HELO name, as
// Postfix does. With an MTA that writes the name verbatim ("from HELO
// (rdns [ip])"), HELO "x (x [10.1.2.3])" made our border's own field look
// like a trusted hop, the walk went on into the fields the client sent,
// and a forged "Received: from spoof (spoof [198.51.100.77])" became the
// border hop: IP-based checks judged an address of the client's choosing
// (an allow-listed one, or a victim's to get it listed).
func TestBorderParenHELO(t *testing.T) {
	forged := []string{"Received: from spoof.example (spoof.example [198.51.100.77]) by x; Mon, 2 Mar 2026 09:00:00 +0000\r\n"}
	for _, helo := range []string{"x (x [10.1.2.3])", "evil (evil [203.0.113.99])"} {
		hop, err := relay.Border(bytes.NewReader(borderMessage(helo, forged)), trusted)
		if err == nil && hop.IP != netip.MustParseAddr("192.0.2.10") {
			t.Errorf("HELO %q: Border names %v, want 192.0.2.10 or an error", helo, hop.IP)
		}
	}
}

// TestARSemicolon (found here, fixed in 172c177): a HELO "x; spf=pass"
// was quoted in the field, which RFC 8601 allows, but go-msgauth's own
// parser (and any reader that splits resinfo at ';', as it does) read one
// more result than was written, one the client chose.
func TestARSemicolon(t *testing.T) {
	d := verdict.Decision{Results: []verdict.Result{{
		Check: spf.Name, Status: verdict.Fail,
		Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultFail, Helo: "x; dkim=pass header.d=bank.example", From: "a@example.org"}},
	}}}
	ar := d.AuthenticationResults("mx.example.net")
	_, rs, err := authres.Parse(ar)
	if err != nil || len(rs) != 1 {
		t.Errorf("one result written, %d parsed back (%v):\n%s", len(rs), err, ar)
	}
}
