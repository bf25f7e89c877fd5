package resolver

import (
	"net"
	"strings"
)

// canonical returns the cache key of host: lower-case, without the trailing
// dot (the root is ""). A name net's resolver would not ask about either
// (see validName) gives the not-found error net gives, without a query.
// It allocates only for a name with upper-case letters, which keeps the
// cache-hit path free of allocations.
func canonical(host string) (string, error) {
	if !validName(host) {
		return "", notFound(host)
	}
	name := strings.TrimSuffix(host, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(name), nil
		}
	}
	return name, nil
}

// validName reports whether s is a name net's pure Go resolver accepts
// (its isDomainName, the same rule): letters, digits, hyphens and
// underscores in labels of 1 to 63 bytes, no label starting or ending with
// a hyphen, not all numeric, at most 253 bytes (254 with the trailing dot).
// The root "." is valid. Rejecting everything else keeps client-supplied
// names with spaces, escapes or control bytes out of queries and out of
// the names handed back to callers (RFC 1123 §2.1, RFC 3696 §2).
func validName(s string) bool {
	if s == "." {
		return true
	}
	l := len(s)
	if l == 0 || l > 254 || l == 254 && s[l-1] != '.' {
		return false
	}
	last := byte('.')
	nonNumeric := false // a letter, hyphen or underscore seen
	partlen := 0
	for i := 0; i < l; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_':
			nonNumeric = true
			partlen++
		case '0' <= c && c <= '9':
			partlen++
		case c == '-':
			if last == '.' {
				return false
			}
			nonNumeric = true
			partlen++
		case c == '.':
			if last == '.' || last == '-' || partlen > 63 {
				return false
			}
			partlen = 0
		default:
			return false
		}
		last = c
	}
	return last != '-' && partlen <= 63 && nonNumeric
}

// errMalformed is net's text for an answer with names it will not return.
const errMalformed = "DNS response contained records which contain invalid names"

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
