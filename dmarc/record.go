package dmarc

import (
	"context"
	"errors"
	"github.com/mtaguard/mtaguard/internal/dnserr"
	"net"
	"net/url"
	"regexp"
	"strings"

	msgdmarc "github.com/emersion/go-msgauth/dmarc"
)

// Policy is what a domain owner asks receivers to do with mail that fails
// DMARC (RFC 7489 §6.3, tags p, sp and np).
type Policy string

const (
	PolicyNone       Policy = "none"
	PolicyQuarantine Policy = "quarantine"
	PolicyReject     Policy = "reject"
)

// weaker returns the next less strict policy (RFC 7489 §6.6.4): the one
// applied to failing mail that pct= leaves out of the sample.
func (p Policy) weaker() Policy {
	if p == PolicyReject {
		return PolicyQuarantine
	}
	return PolicyNone
}

func (p Policy) valid() bool {
	return p == PolicyNone || p == PolicyQuarantine || p == PolicyReject
}

// record is a DMARC policy record, as far as evaluation needs it.
type record struct {
	p, sp, np   Policy // sp and np are "" when absent
	adkimStrict bool
	aspfStrict  bool
	pct         int
}

// Errors of parseRecord.
var (
	// errNoPolicy: the record has no valid p= (or an invalid sp=) and no
	// valid rua= either, so RFC 7489 §6.6.3 applies no DMARC processing.
	errNoPolicy = errors.New("no valid p= and no valid rua=")
	errSyntax   = errors.New("malformed tag list")
	errVersion  = errors.New("record does not start with v=DMARC1")
)

// isDMARC reports whether a TXT record is a DMARC record: one whose first
// tag is v=DMARC1 (RFC 7489 §6.3: "v" must come first and match precisely).
// Other records at _dmarc names are ignored (§6.6.3 step 3).
func isDMARC(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	name, value, ok := strings.Cut(first, "=")
	return ok && strings.EqualFold(trimWSP(name), "v") && trimWSP(value) == "DMARC1"
}

// parseRecord parses a DMARC record (RFC 7489 §6.3, §6.4) with go-msgauth's
// parser, adding what that parser leaves out:
//
//   - tag names and keyword values are case-insensitive, as the ABNF's
//     quoted strings are (go-msgauth wants lower case);
//   - a duplicate tag makes the record invalid (the DKIM tag-list rules
//     of RFC 6376 §3.2, which §6.4 uses);
//   - a missing or invalid p= or an invalid sp= means p=none when rua=
//     holds a valid URI, and no processing otherwise (errNoPolicy; §6.6.3
//     step 6);
//   - np= (RFC 9091 §4.1), ignored when invalid.
//
// Any other error, such as a part without "=", a pct= out of range or an
// unknown alignment mode, makes the record unusable: PermError.
func parseRecord(txt string) (*record, error) {
	// The record must open with v=DMARC1, before any empty part (";v=...").
	if !isDMARC(txt) {
		return nil, errVersion
	}
	type tag struct{ name, value string }
	var tags []tag
	seen := map[string]bool{}
	for part := range strings.SplitSeq(txt, ";") {
		name, value, ok := strings.Cut(part, "=")
		name = strings.ToLower(trimWSP(name))
		if !ok {
			if name == "" {
				continue
			}
			return nil, errSyntax
		}
		if name == "" || seen[name] {
			return nil, errSyntax
		}
		seen[name] = true
		value = trimWSP(value)
		switch name {
		case "p", "sp", "np", "adkim", "aspf", "fo", "rf":
			value = strings.ToLower(value)
		}
		tags = append(tags, tag{name, value})
	}
	if len(tags) == 0 || tags[0].name != "v" || tags[0].value != "DMARC1" {
		return nil, errVersion
	}

	var p, sp, np string
	var rua bool
	for _, t := range tags {
		switch t.name {
		case "p":
			p = t.value
		case "sp":
			sp = t.value
		case "np":
			np = t.value
		case "rua":
			rua = validURIs(t.value)
		}
	}
	spInvalid := seen["sp"] && !Policy(sp).valid()
	if !Policy(p).valid() || spInvalid {
		if !rua {
			return nil, errNoPolicy
		}
		p, sp = string(PolicyNone), ""
	}

	// Rebuild the record for go-msgauth: normalized names and values, p=
	// and sp= as decided above, np= left out (go-msgauth ignores unknown
	// tags, but it is parsed here).
	var b strings.Builder
	b.WriteString("v=DMARC1; p=" + p)
	if sp != "" {
		b.WriteString("; sp=" + sp)
	}
	for _, t := range tags[1:] {
		switch t.name {
		case "p", "sp", "np":
			continue
		}
		b.WriteString("; " + t.name + "=" + t.value)
	}
	parsed, err := msgdmarc.Parse(b.String())
	if err != nil {
		return nil, err
	}
	rec := &record{
		p:           Policy(parsed.Policy),
		sp:          Policy(parsed.SubdomainPolicy),
		adkimStrict: parsed.DKIMAlignment == msgdmarc.AlignmentStrict,
		aspfStrict:  parsed.SPFAlignment == msgdmarc.AlignmentStrict,
		pct:         100,
	}
	if Policy(np).valid() {
		rec.np = Policy(np)
	}
	if parsed.Percent != nil {
		rec.pct = *parsed.Percent
	}
	return rec, nil
}

// sizeLimit is the optional "!size" suffix of a DMARC URI (RFC 7489 §6.4).
var sizeLimit = regexp.MustCompile(`![0-9]+[kmgtKMGT]?$`)

// validURIs reports whether a rua= value holds at least one syntactically
// valid URI (RFC 7489 §6.4 dmarc-uri: an absolute URI, RFC 3986, with an
// optional size limit).
func validURIs(s string) bool {
	for u := range strings.SplitSeq(s, ",") {
		u = sizeLimit.ReplaceAllString(trimWSP(u), "")
		if parsed, err := url.Parse(u); err == nil && parsed.Scheme != "" && parsed.Opaque+parsed.Host+parsed.Path != "" {
			return true
		}
	}
	return false
}

// trimWSP removes the white space RFC 7489 §6.4 allows around tags and
// values.
func trimWSP(s string) string {
	return strings.Trim(s, " \t\r\n")
}

// lookup returns the DMARC records (see isDMARC) published at
// _dmarc.domain. "No such name" and "no TXT records" are an empty answer;
// any other failure is an error, never evidence.
func lookup(ctx context.Context, r Resolver, domain string) ([]string, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, nil
		}
		return nil, err
	}
	var recs []string
	for _, t := range txts {
		if isDMARC(t) {
			recs = append(recs, t)
		}
	}
	return recs, nil
}

// exists reports whether domain exists in the sense of RFC 9091 §2.7: a
// query for its A, AAAA or MX records gets an answer other than NXDOMAIN or
// NODATA. It asks for MX first, which settles most mail domains at once.
func exists(ctx context.Context, r Resolver, domain string) (bool, error) {
	mx, err := r.LookupMX(ctx, domain)
	if err == nil && len(mx) > 0 {
		return true, nil
	}
	if err != nil && !dnserr.NotFound(err) {
		return false, err
	}
	ips, err := r.LookupNetIP(ctx, "ip", domain)
	if err == nil && len(ips) > 0 {
		return true, nil
	}
	if err != nil && !dnserr.NotFound(err) {
		return false, err
	}
	return false, nil
}
