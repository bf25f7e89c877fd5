package acceptance

import (
	"context"
	"net/netip"
	"os"
	"testing"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/dnsbl"
	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// Bugs found here in other packages. Each has a test that shows it; the
// test is skipped unless MTAGUARD_KNOWN_BUGS=1, so that the suite stays
// green until the owner fixes the bug, then the skip goes:
//
//	MTAGUARD_KNOWN_BUGS=1 go test -run KnownBug ./internal/acceptance/

const bugSPFFamily = "spf: an a/mx mechanism whose A query fails while AAAA answers gives fail " +
	"for an IPv4 client instead of temperror (spf/resolver.go libResolver.LookupIPAddr asks for both families)"

// knownBugs are subtests of the generic matrices that hit a known bug.
var knownBugs = map[string]string{
	"TestCheckFaultsOneName/spf/pass/mail.example.org/servfail-A": bugSPFFamily,
}

// knownBug skips t, naming the bug, unless MTAGUARD_KNOWN_BUGS=1.
func knownBug(t *testing.T, bug string) {
	t.Helper()
	if bug != "" && os.Getenv("MTAGUARD_KNOWN_BUGS") != "1" {
		t.Skip("known bug: " + bug)
	}
}

// TestKnownBugSPFFamily: RFC 7208 §5.3 looks up "A or AAAA as appropriate
// for the connection type", and §5 ends check_host() with temperror when
// that lookup fails. The spf package hands the library its Resolver's
// LookupIPAddr, which asks for A and AAAA together and, as net does, drops
// the failure of one when the other answers. For an IPv4 client a SERVFAIL
// on A then looks like "no IPv4 address": the mechanism does not match and
// -all gives fail, score 5 (550 5.7.23 with RejectFail). A DNS failure
// becomes evidence. The same holds for mx (the A of each MX host) and for
// IPv6 clients with a failing AAAA.
func TestKnownBugSPFFamily(t *testing.T) {
	knownBug(t, bugSPFFamily)
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

const bugDNSBLRDNSAll = "dnsbl: a Checker with Identity RDNS is no verdict.Dependent, so under " +
	"Policy.EvaluateAll it runs beside fcrdns and never sees its name (dnsbl/checker.go: no After method)"

// TestKnownBugDNSBLRDNSEvaluateAll: the RDNS identity reads the fcrdns
// result from the session. Evaluate stage by stage works (fcrdns runs at
// Connect, the RDNS list at Helo), but EvaluateAll runs every check at
// once and orders only verdict.Dependent checks, so the list is never
// asked: "not checked: no confirmed rDNS name", even for a listed name.
// helo and dmarc declare After for the same reason; dnsbl should when its
// Identity is RDNS.
func TestKnownBugDNSBLRDNSEvaluateAll(t *testing.T) {
	knownBug(t, bugDNSBLRDNSAll)
	r := resolvertest.MustNew(worldZone() + "mail.example.org.dbl.example. A 127.0.0.2\n")
	p := &verdict.Policy{Checks: []verdict.Check{
		fcrdns.New(r, nil),
		dnsbl.New(r, domainLists, &dnsbl.Options{Identity: dnsbl.RDNS}),
	}}
	d := p.EvaluateAll(context.Background(), worldSession(nil))
	for _, res := range d.Results {
		if res.Check == "dnsbl" && res.Status != verdict.Fail {
			t.Errorf("listed rDNS name under EvaluateAll: %v %q, want fail", res.Status, res.Reason)
		}
	}
	// Stage by stage it works.
	s := worldSession(nil)
	p.Evaluate(context.Background(), s, verdict.Connect)
	p.Evaluate(context.Background(), s, verdict.Helo)
	if res, _ := s.Result("dnsbl"); res.Status != verdict.Fail {
		t.Errorf("stage by stage: %v %q, want fail", res.Status, res.Reason)
	}
}
