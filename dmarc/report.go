package dmarc

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/verdict"
)

// Evaluation records one DMARC evaluation of one author domain with a
// policy: the data of one message in an aggregate report (RFC 9990 §2.1).
type Evaluation struct {
	Time         time.Time
	SourceIP     netip.Addr
	HeaderFrom   string    // the author domain
	EnvelopeFrom string    // the RFC5321.MailFrom domain ("" for the null sender)
	EnvelopeTo   string    // the RFC5321.RcptTo domain of the first recipient, if known
	Published    Published // the policy record that applied
	Disposition  Disposition
	Pass         bool // DMARC passed: Disposition is reported as "pass"
	DKIMAligned  bool // an aligned DKIM identity passed
	SPFAligned   bool // an aligned SPF identity passed
	DKIM         []DKIMAuth
	SPF          []SPFAuth
	Overrides    []Override // why Disposition differs from the published policy
}

// Published is the DMARC policy record an evaluation used (RFC 9990
// policy_published).
type Published struct {
	Domain    string // the DMARC Policy Domain, where the record was found
	Discovery string // "treewalk" (RFC 9989) or "psl" (RFC 7489)
	P, SP, NP Disposition
	ADKIM     string // "r" or "s"
	ASPF      string // "r" or "s"
	Testing   bool   // t=y
	FO        string
}

// DKIMAuth is one DKIM signature's result, uninterpreted by DMARC.
type DKIMAuth struct {
	Domain, Selector string
	Result           string // RFC 8601 §2.7.1 result word
}

// SPFAuth is the SPF result, uninterpreted by DMARC.
type SPFAuth struct {
	Domain string
	Scope  string // "mfrom" or "helo"
	Result string // RFC 8601 §2.7.2 result word
}

// Override is a reason the disposition applied differs from the one
// published (RFC 9990 §2.1.5): Type is local_policy, mailing_list, other,
// policy_test_mode, trusted_forwarder, or RFC 7489's sampled_out.
type Override struct {
	Type, Comment string
}

// Store keeps evaluations until a report is written. It must be safe for
// concurrent use.
type Store interface {
	// Add records one evaluation.
	Add(ctx context.Context, e Evaluation) error
	// Evaluations returns those whose Time is in [begin, end).
	Evaluations(ctx context.Context, begin, end time.Time) ([]Evaluation, error)
}

// MemoryStore is a Store in memory, for tests and single processes. The
// zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	e  []Evaluation
}

// Add records e.
func (m *MemoryStore) Add(_ context.Context, e Evaluation) error {
	m.mu.Lock()
	m.e = append(m.e, e)
	m.mu.Unlock()
	return nil
}

// Evaluations returns the evaluations of [begin, end), in the order added.
func (m *MemoryStore) Evaluations(_ context.Context, begin, end time.Time) ([]Evaluation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Evaluation
	for _, e := range m.e {
		if !e.Time.Before(begin) && e.Time.Before(end) {
			out = append(out, e)
		}
	}
	return out, nil
}

// ByPolicyDomain groups evaluations by their policy domain: RFC 9990 §2.1
// wants one report per policy domain.
func ByPolicyDomain(evs []Evaluation) map[string][]Evaluation {
	m := map[string][]Evaluation{}
	for _, e := range evs {
		m[e.Published.Domain] = append(m[e.Published.Domain], e)
	}
	return m
}

// ReportMetadata is the report_metadata of an aggregate report.
type ReportMetadata struct {
	OrgName          string // the reporting organization
	Email            string // its contact address
	ExtraContactInfo string
	ReportID         string // unique among reports to one domain
	Begin, End       time.Time
	Error            string // errors met with the policy record, if any
	Generator        string // name and version of the software
}

// WriteReport writes an RFC 9990 aggregate report (version 1.0, namespace
// urn:ietf:params:xml:ns:dmarc-2.0) of evs, which must all have the same
// policy domain (see ByPolicyDomain) and be at least one. policy_published
// is that of the last evaluation (RFC 9990 §2.1: the final configuration
// observed). Evaluations that agree on every reported field become one
// record with their count.
func WriteReport(w io.Writer, meta ReportMetadata, evs []Evaluation) error {
	if len(evs) == 0 {
		return errors.New("dmarc: no evaluations to report")
	}
	domain := evs[0].Published.Domain
	for _, e := range evs {
		if e.Published.Domain != domain {
			return fmt.Errorf("dmarc: evaluations of policy domains %q and %q in one report", domain, e.Published.Domain)
		}
	}
	pub := evs[len(evs)-1].Published
	r := xmlFeedback{
		NS:      "urn:ietf:params:xml:ns:dmarc-2.0",
		Version: "1.0",
		Meta: xmlMeta{
			OrgName: meta.OrgName, Email: meta.Email, ExtraContactInfo: meta.ExtraContactInfo,
			ReportID: meta.ReportID, Begin: meta.Begin.Unix(), End: meta.End.Unix(),
			Error: meta.Error, Generator: meta.Generator,
		},
		Policy: xmlPolicy{
			Domain: pub.Domain, Discovery: pub.Discovery, P: string(pub.P), SP: string(pub.SP), NP: string(pub.NP),
			FO: pub.FO, ADKIM: pub.ADKIM, ASPF: pub.ASPF, Testing: yn(pub.Testing),
		},
	}
	if r.Policy.SP == "" {
		r.Policy.SP = r.Policy.P // RFC 9990: unspecified tags have their default values
	}
	index := map[string]int{}
	for _, e := range evs {
		rec := xmlRecord{
			Row: xmlRow{SourceIP: e.SourceIP.Unmap().String(), Count: 1, Eval: xmlEvaluated{
				Disposition: string(e.Disposition), DKIM: passFail(e.DKIMAligned), SPF: passFail(e.SPFAligned),
			}},
			IDs: xmlIDs{HeaderFrom: e.HeaderFrom, EnvelopeFrom: e.EnvelopeFrom, EnvelopeTo: e.EnvelopeTo},
		}
		if e.Pass {
			rec.Row.Eval.Disposition = "pass"
		}
		if !e.SourceIP.IsValid() {
			return fmt.Errorf("dmarc: evaluation of %s has no source IP", e.HeaderFrom)
		}
		for _, o := range e.Overrides {
			rec.Row.Eval.Reasons = append(rec.Row.Eval.Reasons, xmlReason(o))
		}
		for _, d := range e.DKIM {
			rec.Auth.DKIM = append(rec.Auth.DKIM, xmlDKIM(d))
		}
		for _, s := range e.SPF {
			rec.Auth.SPF = append(rec.Auth.SPF, xmlSPF(s))
		}
		b, err := xml.Marshal(rec)
		if err != nil {
			return err
		}
		if i, ok := index[string(b)]; ok {
			r.Records[i].Row.Count++
			continue
		}
		index[string(b)] = len(r.Records)
		r.Records = append(r.Records, rec)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(r); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func yn(b bool) string {
	if b {
		return "y"
	}
	return "n"
}

func passFail(b bool) string {
	if b {
		return "pass"
	}
	return "fail"
}

// The report's XML, in the element order RFC 9990 Appendix A requires.
type (
	xmlFeedback struct {
		XMLName xml.Name    `xml:"feedback"`
		NS      string      `xml:"xmlns,attr"`
		Version string      `xml:"version"`
		Meta    xmlMeta     `xml:"report_metadata"`
		Policy  xmlPolicy   `xml:"policy_published"`
		Records []xmlRecord `xml:"record"`
	}
	xmlMeta struct {
		OrgName          string `xml:"org_name"`
		Email            string `xml:"email"`
		ExtraContactInfo string `xml:"extra_contact_info,omitempty"`
		ReportID         string `xml:"report_id"`
		Begin            int64  `xml:"date_range>begin"`
		End              int64  `xml:"date_range>end"`
		Error            string `xml:"error,omitempty"`
		Generator        string `xml:"generator,omitempty"`
	}
	xmlPolicy struct {
		Domain    string `xml:"domain"`
		Discovery string `xml:"discovery_method,omitempty"`
		P         string `xml:"p"`
		SP        string `xml:"sp,omitempty"`
		NP        string `xml:"np,omitempty"`
		FO        string `xml:"fo,omitempty"`
		ADKIM     string `xml:"adkim,omitempty"`
		ASPF      string `xml:"aspf,omitempty"`
		Testing   string `xml:"testing,omitempty"`
	}
	xmlRecord struct {
		Row  xmlRow  `xml:"row"`
		IDs  xmlIDs  `xml:"identifiers"`
		Auth xmlAuth `xml:"auth_results"`
	}
	xmlRow struct {
		SourceIP string       `xml:"source_ip"`
		Count    int          `xml:"count"`
		Eval     xmlEvaluated `xml:"policy_evaluated"`
	}
	xmlEvaluated struct {
		Disposition string      `xml:"disposition"`
		DKIM        string      `xml:"dkim"`
		SPF         string      `xml:"spf"`
		Reasons     []xmlReason `xml:"reason"`
	}
	xmlReason struct {
		Type    string `xml:"type"`
		Comment string `xml:"comment,omitempty"`
	}
	xmlIDs struct {
		HeaderFrom   string `xml:"header_from"`
		EnvelopeFrom string `xml:"envelope_from"`
		EnvelopeTo   string `xml:"envelope_to,omitempty"`
	}
	xmlAuth struct {
		DKIM []xmlDKIM `xml:"dkim"`
		SPF  []xmlSPF  `xml:"spf"`
	}
	xmlDKIM struct {
		Domain   string `xml:"domain"`
		Selector string `xml:"selector"`
		Result   string `xml:"result"`
	}
	xmlSPF struct {
		Domain string `xml:"domain"`
		Scope  string `xml:"scope,omitempty"`
		Result string `xml:"result"`
	}
)

// evaluation builds the Evaluation of one author domain's outcome in
// session s.
func (c *Checker) evaluation(s *verdict.Session, o outcome) Evaluation {
	rec := o.rec
	e := Evaluation{
		Time:        c.o.Now(),
		SourceIP:    s.IP,
		HeaderFrom:  o.from,
		Disposition: o.applied,
		Pass:        o.res.Status == verdict.Pass,
		DKIMAligned: o.dkimOK,
		SPFAligned:  o.spfOK,
		Overrides:   slices.Clone(o.overrides),
		Published: Published{
			Domain: o.disc.domain, Discovery: "treewalk",
			P: rec.p, SP: rec.sp, NP: rec.np, ADKIM: "r", ASPF: "r", Testing: rec.testing, FO: rec.fo,
		},
	}
	if c.o.PublicSuffixList {
		e.Published.Discovery = "psl"
	}
	if rec.adkimStrict {
		e.Published.ADKIM = "s"
	}
	if rec.aspfStrict {
		e.Published.ASPF = "s"
	}
	if e.Disposition == "" {
		e.Disposition = None
	}
	e.EnvelopeFrom, _ = address.Domain(s.MailFrom)
	rcpt := s.Rcpt
	if rcpt == "" && len(s.Rcpts) > 0 {
		rcpt = s.Rcpts[0]
	}
	e.EnvelopeTo, _ = address.Domain(rcpt)
	for _, id := range o.ids {
		switch id.method {
		case dkimName:
			e.DKIM = append(e.DKIM, DKIMAuth{Domain: id.raw, Selector: id.selector, Result: string(id.value)})
		case spfName:
			if id.scope == "mfrom" || len(e.SPF) == 0 {
				e.SPF = append(e.SPF, SPFAuth{Domain: id.raw, Scope: id.scope, Result: spfWord(id.value)})
			}
		}
	}
	if len(e.SPF) == 0 { // RFC 9990's schema wants one SPF result
		e.SPF = []SPFAuth{{Domain: e.EnvelopeFrom, Scope: "mfrom", Result: "none"}}
	}
	return e
}

// spfWord maps result words to those of RFC 9990's SPFResultType.
func spfWord(v authres.ResultValue) string {
	switch w := strings.ToLower(string(v)); w {
	case "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror":
		return w
	case "hardfail":
		return "fail"
	case "policy":
		return "neutral"
	}
	return "none"
}
