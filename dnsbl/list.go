package dnsbl

import (
	"net/netip"
	"strconv"
)

// List is one DNS list (RFC 5782): a block list, or an allow list when its
// Score is negative. The same Zone may appear in several Lists, with
// different Codes and Scores, to weigh a list's answers differently (as
// postscreen_dnsbl_sites does): it is queried once, and each List whose
// Codes match the answer adds its Score once, however many of its codes
// matched.
type List struct {
	Zone  string  // "zen.spamhaus.org"
	Score float64 // added when listed (negative for an allow list)

	// Codes are the answers that count as listed. Nil means any answer in
	// 127.0.0.0/8 except the error range 127.255.255.0/24. Error answers
	// never count as listed, whatever Codes say.
	Codes []netip.Prefix

	// Errors are answers that, besides 127.255.255.0/24 (always an error,
	// from any list), mean that the list refused or could not serve the
	// query rather than that it lists the subject: 127.0.1.255 from
	// Spamhaus DBL (an IP address asked of a domain list), 127.0.0.255
	// from list.dnswl.org (blocked for excessive use).
	Errors []netip.Prefix

	// TXT, when the list lists the subject, looks up the TXT record at the
	// same name for the list's explanation (RFC 5782 §2.1) and puts it in
	// the Reason. It costs a second lookup, only when listed.
	TXT bool

	// IPv4Only lists are not asked about IPv6 clients (Haraka's
	// ipv6=false): many lists hold IPv4 addresses only.
	IPv4Only bool
}

// answerKind is how a list's answer is to be read.
type answerKind uint8

const (
	notListed answerKind = iota // not in the list's Codes
	listed
	errorCode // the list's way of refusing or failing the query
	invalid   // outside 127.0.0.0/8, or not IPv4: never a listing (RFC 5782 §2.1)
)

// classify reads one answer of l.
func (l *List) classify(a netip.Addr) answerKind {
	a = a.Unmap()
	if !a.Is4() || a.As4()[0] != 127 {
		return invalid
	}
	if b := a.As4(); b[1] == 255 && b[2] == 255 {
		return errorCode
	}
	for _, p := range l.Errors {
		if p.Contains(a) {
			return errorCode
		}
	}
	if l.Codes == nil {
		return listed
	}
	for _, p := range l.Codes {
		if p.Contains(a) {
			return listed
		}
	}
	return notListed
}

// evaluate reads all answers of l to one query: the listing codes, and the
// first answer that makes the whole answer an error (an error code or an
// invalid address), if any. One error answer spoils the rest: a list that
// says it refused the query has said nothing about the subject, and
// Spamhaus asks that its error codes never lead to a rejection.
func (l *List) evaluate(answers []netip.Addr) (codes []netip.Addr, bad netip.Addr, kind answerKind) {
	for _, a := range answers {
		switch k := l.classify(a); k {
		case listed:
			codes = append(codes, a.Unmap())
		case errorCode, invalid:
			if !bad.IsValid() {
				bad, kind = a.Unmap(), k
			}
		}
	}
	switch {
	case bad.IsValid():
		return nil, bad, kind
	case len(codes) > 0:
		return codes, netip.Addr{}, listed
	}
	return nil, netip.Addr{}, notListed
}

// errorMeaning explains an error answer. The codes are Spamhaus's
// (127.255.255.252 is documented by third parties and handled by Haraka;
// .254 and .255 by Spamhaus itself) and apply to any list using the range.
func errorMeaning(a netip.Addr, kind answerKind) string {
	if kind == invalid {
		return "outside 127.0.0.0/8, not a listing; does the resolver rewrite NXDOMAIN answers?"
	}
	if b := a.Unmap().As4(); b[1] == 255 && b[2] == 255 {
		switch b[3] {
		case 252:
			return "error: typo in the list's zone name"
		case 254:
			return "error: query via a public or open resolver"
		case 255:
			return "error: excessive number of queries"
		}
	}
	return "error code, not a listing"
}

// codeList renders answers for a Reason: "127.0.0.2, 127.0.0.4".
func codeList(codes []netip.Addr) string {
	b := make([]byte, 0, 16*len(codes))
	for i, c := range codes {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = c.AppendTo(b)
	}
	return string(b)
}

// scoreText formats a score for a Reason.
func scoreText(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if f >= 0 {
		return "+" + s
	}
	return s
}
