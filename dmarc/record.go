package dmarc

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Disposition is what a domain owner asks receivers to do with mail that
// fails DMARC (the values of the p, sp and np tags, RFC 9989 §4.7), and what
// a receiver applied (RFC 9990's DispositionType).
type Disposition string

// The dispositions.
const (
	None       Disposition = "none"
	Quarantine Disposition = "quarantine"
	Reject     Disposition = "reject"
)

// weaker returns the next less strict disposition: the one applied to
// failing mail under t=y (RFC 9989 §4.7) or left out of a pct= sample
// (RFC 7489 §6.6.4).
func (d Disposition) weaker() Disposition {
	if d == Reject {
		return Quarantine
	}
	return None
}

func (d Disposition) valid() bool {
	return d == None || d == Quarantine || d == Reject
}

// record is a DMARC policy record, as far as evaluation and reporting need
// it.
type record struct {
	p, sp, np   Disposition // sp and np are "" when absent
	pMissing    bool        // no p= at all (RFC 9989 reads this as p=none)
	adkimStrict bool
	aspfStrict  bool
	pct         int  // RFC 7489 only; 100 when absent or invalid
	testing     bool // t=y (RFC 9989)
	psd         byte // 'y', 'n' or 'u' (RFC 9989)
	fo          string
}

// errNoPolicy: the record has an invalid p=, sp= or np= and no valid rua=,
// so no DMARC processing applies (RFC 9989 §4.10.1; RFC 7489 §6.6.3 step
// 6). RFC 7489 treats a missing p= the same way.
var errNoPolicy = errors.New("no valid p= and no valid rua=")

// isDMARC reports whether a TXT record is a DMARC record: one whose first
// tag is v=DMARC1 (RFC 9989 §4.7: "v" must come first, and its value is
// case-sensitive). Other records at _dmarc names are discarded (§4.10
// step 2).
func isDMARC(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	name, value, ok := strings.Cut(first, "=")
	return ok && strings.EqualFold(trimWSP(name), "v") && trimWSP(value) == "DMARC1"
}

// parseRecord parses a DMARC record (one isDMARC accepts) as RFC 9989
// §4.7-§4.8 and RFC 7489 §6.3 both ask: a syntax error in a tag falls back
// to that tag's default or is ignored, so that a record with a typo in an
// optional tag still applies its p=. In detail:
//
//   - tags may come in any order after v=; names and keyword values are
//     case-insensitive; white space around them is allowed;
//   - unknown tags are ignored, and so are parts without "=" and empty
//     parts;
//   - a repeated tag counts once, at its first valid occurrence;
//   - adkim=, aspf=, fo=, t= and psd= with an invalid value take their
//     defaults (r, r, 0, n, u); pct= outside 0-100 or not a number counts
//     as 100; rf= and ri= are not used at all;
//   - an invalid p=, sp= or np= makes the record p=none when rua= holds at
//     least one valid URI, and no policy at all otherwise (errNoPolicy,
//     RFC 9989 §4.10.1). A missing p= is p=none under RFC 9989 §4.7, and
//     is treated like an invalid one under RFC 7489 (rfc7489 true).
//
// go-msgauth's parser, which this package used before, refuses the whole
// record on the first of these errors, so a p=reject with adkim=bob beside
// it was not enforced at all.
func parseRecord(txt string, rfc7489 bool) (*record, error) {
	rec := &record{pct: 100, psd: 'u'}
	seen := map[string]bool{}
	var p, sp, np string
	var hasP, hasSP, hasNP, rua bool
	first := true
	for part := range strings.SplitSeq(txt, ";") {
		name, value, ok := strings.Cut(part, "=")
		if first {
			first = false // v=DMARC1, checked by isDMARC
			continue
		}
		name = strings.ToLower(trimWSP(name))
		value = trimWSP(value)
		if !ok || name == "" || seen[name] {
			continue
		}
		lower := strings.ToLower(value)
		valid := true
		switch name {
		case "p":
			p, hasP = lower, true
		case "sp":
			sp, hasSP = lower, true
		case "np":
			np, hasNP = lower, true
		case "adkim", "aspf":
			valid = lower == "r" || lower == "s"
			if valid {
				if name == "adkim" {
					rec.adkimStrict = lower == "s"
				} else {
					rec.aspfStrict = lower == "s"
				}
			}
		case "pct":
			n, err := strconv.Atoi(value)
			valid = err == nil && n >= 0 && n <= 100
			if valid {
				rec.pct = n
			}
		case "t":
			valid = lower == "y" || lower == "n"
			rec.testing = lower == "y"
		case "psd":
			valid = lower == "y" || lower == "n" || lower == "u"
			if valid {
				rec.psd = lower[0]
			}
		case "fo":
			valid = validFO(lower)
			if valid {
				rec.fo = lower
			}
		case "rua":
			valid = validURIs(value)
			rua = valid
		}
		// Only a valid value claims the tag: a later valid duplicate
		// then still counts.
		seen[name] = valid
	}

	pValid := Disposition(p).valid()
	if !hasP && !rfc7489 {
		p, pValid, rec.pMissing = string(None), true, true
	}
	if !pValid || hasSP && !Disposition(sp).valid() || hasNP && !Disposition(np).valid() && !rfc7489 {
		if !rua {
			return nil, errNoPolicy
		}
		p, sp, np = string(None), "", ""
	}
	rec.p = Disposition(p)
	if Disposition(sp).valid() {
		rec.sp = Disposition(sp)
	}
	// Under RFC 7489 np= comes from RFC 9091 §4.1, where an invalid value
	// is ignored.
	if Disposition(np).valid() {
		rec.np = Disposition(np)
	}
	return rec, nil
}

// validFO reports whether s is a dmarc-fo value (RFC 9989 §4.8): 0, 1, d
// and s separated by colons, each at most once, 0 and 1 not together.
func validFO(s string) bool {
	seen := map[string]bool{}
	for v := range strings.SplitSeq(s, ":") {
		v = trimWSP(v)
		switch v {
		case "0", "1", "d", "s":
		default:
			return false
		}
		if seen[v] {
			return false
		}
		seen[v] = true
	}
	return !(seen["0"] && seen["1"])
}

// sizeLimit is the obsolete "!size" suffix of a DMARC URI (RFC 9989 §4.8
// obs-dmarc-report-size), ignored.
var sizeLimit = regexp.MustCompile(`![0-9]+[kmgtKMGT]?$`)

// validURIs reports whether a rua= value holds at least one syntactically
// valid URI (RFC 9989 §4.8 dmarc-uri: an absolute URI, RFC 3986).
func validURIs(s string) bool {
	for u := range strings.SplitSeq(s, ",") {
		u = sizeLimit.ReplaceAllString(trimWSP(u), "")
		if parsed, err := url.Parse(u); err == nil && parsed.Scheme != "" && parsed.Opaque+parsed.Host+parsed.Path != "" {
			return true
		}
	}
	return false
}

// trimWSP removes the white space RFC 9989 §4.8 allows around tags and
// values.
func trimWSP(s string) string {
	return strings.Trim(s, " \t\r\n")
}
