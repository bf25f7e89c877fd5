package dmarc

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/header"
)

// Errors of From. The caller may refuse such a message (RFC 9989 §5.3.1);
// any other error is one of reading the message.
var (
	ErrNoFrom        = errors.New("dmarc: message has no From field")
	ErrMultipleFrom  = errors.New("dmarc: message has more than one From field")
	ErrMultipleAddrs = errors.New("dmarc: From field has more than one address")
	ErrFromSyntax    = errors.New("dmarc: From field does not parse")
	ErrFromDomain    = errors.New("dmarc: From address has no usable domain")
	ErrHeaderTooLong = errors.New("dmarc: header section too long")
)

// maxDomains bounds the distinct domains Authors collects from one
// message.
const maxDomains = 64

// AuthorDomains is what Authors found in the From fields of a message.
type AuthorDomains struct {
	Domains   []string // distinct author domains, lower-case A-labels, in the order found
	Fields    int      // From fields
	Addresses int      // addresses in them (by the strict reading; lenient finds count one each)
	Malformed bool     // a From field did not parse as RFC 5322 (obsolete syntax included): its domains are a lenient reading
}

// Authors reads the header section of message, as mail readers split it
// (a bare CR or LF ends a line as CRLF does), and returns every author
// domain a reader could be shown: the domains of all the addresses of all
// its From fields. It reads at most a buffer's worth past the header
// section, so it can be given a stream of a message of any size.
//
// A field is parsed as RFC 5322 §3.4 and §4.4 have it, obsolete syntax
// included: comments anywhere CFWS may stand (`Pete(A nice \) chap)
// <pete(his account)@silly.test(his host)>`), quoted strings, groups,
// source routes, 8-bit display names (Latin-1 or UTF-8), encoded words.
// A field that does not parse is read leniently instead, and Malformed is
// set: then every domain after an '@' anywhere in the field, in its
// decoded encoded words too, counts, with trailing dots removed
// (`<alice@example.org.>`, an unclosed `<`), since a reader may display
// any of them as the author. Domains that are no domain names (address
// literals, bad labels) are left out; the caller treats a message with no
// domain left as malformed.
//
// The error is ErrHeaderTooLong for a header section over 1 MiB, or one
// of reading the message.
func Authors(message io.Reader) (*AuthorDomains, error) {
	values, err := fromFields(message)
	if err != nil {
		return nil, err
	}
	return authors(values), nil
}

// authors reads the author domains of the From field values.
func authors(values []string) *AuthorDomains {
	a := &AuthorDomains{Fields: len(values)}
	seen := map[string]bool{}
	add := func(raw string) {
		d, err := dnsname.Normalize(strings.TrimRight(raw, "."))
		if err != nil || seen[d] || len(a.Domains) >= maxDomains {
			return
		}
		seen[d] = true
		a.Domains = append(a.Domains, d)
	}
	for _, v := range values {
		addrs, err := parseAddressList(v)
		if err == nil {
			a.Addresses += len(addrs)
			for _, ad := range addrs {
				if !ad.literal {
					add(ad.domain)
				}
			}
			continue
		}
		a.Malformed = true
		for _, d := range lenientDomains(v) {
			a.Addresses++
			add(d)
		}
	}
	return a
}

// From reads the header section of message and returns the author domain
// that DMARC evaluates when the From field is exactly as RFC 5322 §3.6.2
// and RFC 9989 §5.3.1 want it: one From field holding one address whose
// domain is a domain name, returned in lower-case A-label form. Anything
// else is an error wrapping ErrNoFrom, ErrMultipleFrom, ErrMultipleAddrs,
// ErrFromSyntax or ErrFromDomain (or ErrHeaderTooLong, or one of reading).
// The Checker uses Authors, which also reads the messages From refuses.
func From(message io.Reader) (string, error) {
	values, err := fromFields(message)
	if err != nil {
		return "", err
	}
	switch len(values) {
	case 0:
		return "", ErrNoFrom
	case 1:
	default:
		return "", ErrMultipleFrom
	}
	addrs, err := parseAddressList(values[0])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrFromSyntax, err)
	}
	switch len(addrs) {
	case 0:
		return "", ErrNoFrom // e.g. an empty group, "undisclosed-recipients:;"
	case 1:
	default:
		return "", ErrMultipleAddrs
	}
	if addrs[0].literal {
		return "", ErrFromDomain
	}
	d, err := dnsname.Normalize(addrs[0].domain)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrFromDomain, err)
	}
	return d, nil
}

// lenientDomains returns every domain that follows an '@' in a From field
// value or in the decoded text of its encoded words: CFWS after the '@'
// and around the dots of the domain skipped, the domain ending at the
// first character that cannot be part of one.
func lenientDomains(v string) []string {
	texts := []string{v}
	dec := mime.WordDecoder{CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil }}
	if d, err := dec.DecodeHeader(v); err == nil && d != v {
		texts = append(texts, d)
	}
	var out []string
	for _, s := range texts {
		for i := 0; i < len(s); i++ {
			if s[i] != '@' {
				continue
			}
			var labels []string
			j := skipCFWS(s, i+1)
			for {
				k := j
				for k < len(s) && !stopsDomain(s[k]) {
					k++
				}
				if k == j {
					break
				}
				labels = append(labels, s[j:k])
				if n := skipCFWS(s, k); n < len(s) && s[n] == '.' {
					j = skipCFWS(s, n+1)
					continue
				}
				break
			}
			if len(labels) > 0 {
				out = append(out, strings.Join(labels, "."))
			}
		}
	}
	return out
}

// stopsDomain reports whether c ends a label in lenientDomains: white
// space, controls, and the specials (dots join labels in lenientDomains).
func stopsDomain(c byte) bool {
	return c <= ' ' || c == 0x7f || strings.IndexByte(`<>()[],;:"@\.`, c) >= 0
}

// skipCFWS returns the index of the first byte at or after i that is no
// folding white space and not in a comment.
func skipCFWS(s string, i int) int {
	return len(s) - len(header.SkipCFWS(s[i:]))
}
