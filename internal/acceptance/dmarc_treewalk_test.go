package acceptance

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// walkZone has the structures of RFC 9989's DNS tree walk: a public
// suffix domain with a policy (psd=y), a delegated department (psd=n), a
// deep name, an organization with records at two levels.
const walkZone = `
_dmarc.gov.                      TXT "v=DMARC1; p=reject; psd=y"
_dmarc.agency.gov.               TXT "v=DMARC1; p=quarantine"
_dmarc.example.com.              TXT "v=DMARC1; p=reject"
_dmarc.mail.example.com.         TXT "v=DMARC1; p=none"
_dmarc.company.co.uk.            TXT "v=DMARC1; p=reject"
_dmarc.dept.company.co.uk.       TXT "v=DMARC1; p=quarantine; psd=n"
host.dept.company.co.uk.         A   192.0.2.7
`

// TestDMARCWalkFaultsNeverEvidence breaks, one at a time and with each
// failing fault, every name the tree walk of an evaluation asks, and
// checks that the outcome is either the one working DNS gives (the
// broken name came after the walk stopped) or TempError: never a pass, a
// fail or a demand that working DNS would not give.
func TestDMARCWalkFaultsNeverEvidence(t *testing.T) {
	spfFail := verdict.Result{Check: spf.Name, Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultFail, From: "x@other.example"}}}
	dkimPass := func(d string) verdict.Result {
		return verdict.Result{Check: dkim.Name, Auth: []authres.Result{&authres.DKIMResult{Value: authres.ResultPass, Domain: d}}}
	}
	cases := []struct {
		from    string
		results []verdict.Result
	}{
		{"nothere.agency.gov", []verdict.Result{spfFail}},
		{"x.y.gov", []verdict.Result{spfFail}},
		{"a.b.c.d.e.f.g.h.example.com", []verdict.Result{spfFail}},
		{"a.mail.example.com", []verdict.Result{dkimPass("example.com")}},
		{"host.dept.company.co.uk", []verdict.Result{dkimPass("company.co.uk")}},
		{"host.dept.company.co.uk", []verdict.Result{dkimPass("mail.dept.company.co.uk")}},
	}
	broken := 0
	for _, c := range cases {
		clean := resolvertest.MustNew(walkZone)
		rec := newRecorder(clean)
		want := dmarc.Check(context.Background(), rec, c.from, c.results...)
		if want.Status == verdict.TempError {
			t.Fatalf("%s with working DNS: %s", c.from, want.Reason)
		}
		for _, name := range rec.Names() {
			for _, f := range memFaults {
				r := resolvertest.MustNew(walkZone)
				r.SetTimeoutAfter(20 * time.Millisecond)
				r.SetFault(name, f)
				got := dmarc.Check(context.Background(), r, c.from, c.results...)
				broken++
				switch {
				case got.Status == verdict.TempError:
					if got.Action != verdict.Accept || got.Score > 0 {
						t.Errorf("%s, %v at %s: TempError demands %v, scores %v", c.from, f, name, got.Action, got.Score)
					}
				case got.Status != want.Status || got.Action != want.Action:
					t.Errorf("%s, %v at %s: %v %v (%s), working DNS %v %v", c.from, f, name, got.Status, got.Action, got.Reason, want.Status, want.Action)
				}
			}
		}
	}
	t.Logf("%d evaluations with a broken name", broken)
}
