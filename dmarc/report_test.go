package dmarc

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// reportZone publishes a policy with every reported tag.
const reportZone = `_dmarc.example.com. TXT "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; fo=1; t=y; rua=mailto:d@example.com"
news.example.com. A 192.0.2.10
_dmarc.other.example. TXT "v=DMARC1; p=none"
`

// recordEvaluations runs messages through a Checker with a MemoryStore
// and returns what it recorded.
func recordEvaluations(t *testing.T) []Evaluation {
	t.Helper()
	st := &MemoryStore{}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c := New(resolvertest.MustNew(reportZone), &Options{Store: st, Now: func() time.Time { return now }})
	sessions := []verdict.Session{
		{ // aligned DKIM pass
			IP: netip.MustParseAddr("192.0.2.1"), MailFrom: "<b@example.com>", Rcpts: []string{"u@rcpt.example"},
			Message: []byte("From: a@example.com\r\n\r\n"),
			Results: []verdict.Result{spf(authres.ResultPass, "b@example.com", ""), dkimSel("pass", "example.com", "sel1")},
		},
		{ // the same again: one record, count 2
			IP: netip.MustParseAddr("192.0.2.1"), MailFrom: "<b@example.com>", Rcpts: []string{"u@rcpt.example"},
			Message: []byte("From: a@example.com\r\n\r\n"),
			Results: []verdict.Result{spf(authres.ResultPass, "b@example.com", ""), dkimSel("pass", "example.com", "sel1")},
		},
		{ // a forgery from IPv6, t=y: quarantine becomes none
			IP: netip.MustParseAddr("2001:db8::25"), MailFrom: "", HELO: "evil.example",
			Message: []byte("From: x@news.example.com\r\n\r\n"),
			Results: []verdict.Result{spf(authres.ResultSoftFail, "", "evil.example"), dkimSel("fail", "evil.example", "k")},
		},
		{ // another policy domain: not in example.com's report
			IP: netip.MustParseAddr("192.0.2.2"), Message: []byte("From: a@other.example\r\n\r\n"),
		},
	}
	for i := range sessions {
		c.Check(context.Background(), &sessions[i])
	}
	evs, err := st.Evaluations(context.Background(), now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil || len(evs) != 4 {
		t.Fatalf("%d evaluations recorded, %v", len(evs), err)
	}
	return evs
}

func dkimSel(value, domain, selector string) verdict.Result {
	return verdict.Result{Check: "dkim", Auth: []authres.Result{&authres.DKIMResult{
		Value: authres.ResultValue(value), Domain: domain, Identifier: "@" + domain, Reason: "s=" + selector,
	}}}
}

// Test structs for reading a report back, independent of the writer's.
type (
	testFeedback struct {
		XMLName xml.Name `xml:"urn:ietf:params:xml:ns:dmarc-2.0 feedback"`
		Version string   `xml:"version"`
		Meta    struct {
			OrgName   string `xml:"org_name"`
			ReportID  string `xml:"report_id"`
			Begin     int64  `xml:"date_range>begin"`
			End       int64  `xml:"date_range>end"`
			Generator string `xml:"generator"`
		} `xml:"report_metadata"`
		Policy struct {
			Domain    string `xml:"domain"`
			Discovery string `xml:"discovery_method"`
			P         string `xml:"p"`
			SP        string `xml:"sp"`
			NP        string `xml:"np"`
			FO        string `xml:"fo"`
			ADKIM     string `xml:"adkim"`
			ASPF      string `xml:"aspf"`
			Testing   string `xml:"testing"`
		} `xml:"policy_published"`
		Records []struct {
			SourceIP    string `xml:"row>source_ip"`
			Count       int    `xml:"row>count"`
			Disposition string `xml:"row>policy_evaluated>disposition"`
			DKIM        string `xml:"row>policy_evaluated>dkim"`
			SPF         string `xml:"row>policy_evaluated>spf"`
			Reasons     []struct {
				Type    string `xml:"type"`
				Comment string `xml:"comment"`
			} `xml:"row>policy_evaluated>reason"`
			HeaderFrom   string `xml:"identifiers>header_from"`
			EnvelopeFrom string `xml:"identifiers>envelope_from"`
			EnvelopeTo   string `xml:"identifiers>envelope_to"`
			AuthDKIM     []struct {
				Domain   string `xml:"domain"`
				Selector string `xml:"selector"`
				Result   string `xml:"result"`
			} `xml:"auth_results>dkim"`
			AuthSPF []struct {
				Domain string `xml:"domain"`
				Scope  string `xml:"scope"`
				Result string `xml:"result"`
			} `xml:"auth_results>spf"`
		} `xml:"record"`
	}
)

func TestWriteReport(t *testing.T) {
	evs := recordEvaluations(t)
	byDomain := ByPolicyDomain(evs)
	if len(byDomain) != 2 || len(byDomain["example.com"]) != 3 {
		t.Fatalf("ByPolicyDomain: %v", byDomain)
	}
	meta := ReportMetadata{
		OrgName: "mx.example.net", Email: "postmaster@example.net", ReportID: "r1@example.net",
		Begin: time.Unix(1796472000, 0), End: time.Unix(1796558400, 0), Generator: "mtaguard",
	}
	var buf bytes.Buffer
	if err := WriteReport(&buf, meta, byDomain["example.com"]); err != nil {
		t.Fatal(err)
	}
	report := buf.Bytes()

	// Validated against the schema of RFC 9990 Appendix A.
	validate(t, report)

	// Read back with structs of this test.
	var fb testFeedback
	if err := xml.Unmarshal(report, &fb); err != nil {
		t.Fatalf("%v\n%s", err, report)
	}
	p := fb.Policy
	if fb.Version != "1.0" || fb.Meta.ReportID != "r1@example.net" || fb.Meta.Begin != 1796472000 || fb.Meta.Generator != "mtaguard" ||
		p.Domain != "example.com" || p.Discovery != "treewalk" || p.P != "reject" || p.SP != "quarantine" || p.NP != "reject" ||
		p.ADKIM != "s" || p.ASPF != "r" || p.Testing != "y" || p.FO != "1" {
		t.Errorf("metadata or policy read back wrong: %+v\n%s", fb, report)
	}
	if len(fb.Records) != 2 {
		t.Fatalf("%d records, want 2\n%s", len(fb.Records), report)
	}
	r0, r1 := fb.Records[0], fb.Records[1]
	if r0.SourceIP != "192.0.2.1" || r0.Count != 2 || r0.Disposition != "pass" || r0.DKIM != "pass" || r0.SPF != "pass" ||
		r0.HeaderFrom != "example.com" || r0.EnvelopeFrom != "example.com" || r0.EnvelopeTo != "rcpt.example" ||
		len(r0.AuthDKIM) != 1 || r0.AuthDKIM[0].Selector != "sel1" || len(r0.AuthSPF) != 1 || r0.AuthSPF[0].Scope != "mfrom" {
		t.Errorf("record 0: %+v", r0)
	}
	if r1.SourceIP != "2001:db8::25" || r1.Count != 1 || r1.Disposition != "none" || r1.DKIM != "fail" || r1.SPF != "fail" ||
		len(r1.Reasons) != 1 || r1.Reasons[0].Type != "policy_test_mode" || r1.HeaderFrom != "news.example.com" || r1.EnvelopeFrom != "" ||
		len(r1.AuthSPF) != 1 || r1.AuthSPF[0].Scope != "helo" || r1.AuthSPF[0].Result != "softfail" || r1.AuthSPF[0].Domain != "evil.example" {
		t.Errorf("record 1: %+v", r1)
	}

	// One policy domain per report; something to report.
	if err := WriteReport(&buf, meta, evs); err == nil {
		t.Error("a report of two policy domains was written")
	}
	if err := WriteReport(&buf, meta, nil); err == nil {
		t.Error("an empty report was written")
	}
	// The RFC 7489 mode says so.
	evs[0].Published.Discovery = "psl"
	buf.Reset()
	if err := WriteReport(&buf, meta, evs[:1]); err != nil || !strings.Contains(buf.String(), "<discovery_method>psl</discovery_method>") {
		t.Errorf("psl report: %v\n%s", err, buf.String())
	}
	validate(t, buf.Bytes())
}

// validate runs xmllint with the RFC 9990 schema over report.
func validate(t *testing.T, report []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
			t.Fatal("xmllint not installed (MTAGUARD_REQUIRE_TOOLS=1); it is in Debian's libxml2-utils")
		}
		t.Skip("xmllint not installed (Debian libxml2-utils); the report is not validated against the schema")
	}
	f := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(f, report, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("testdata", "rfc9990.xsd"), f).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s\n%s", err, out, report)
	}
}
