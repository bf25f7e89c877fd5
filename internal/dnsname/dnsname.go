// Package dnsname puts domain names from SMTP clients (HELO names, address
// domains, DNS answers) into one comparable form: lower-case A-labels
// without the trailing dot, checked against the length and label rules of
// RFC 1035 §2.3.4 and RFC 5321 §4.1.2, with internationalised names
// (U-labels) converted by golang.org/x/net/idna (RFC 5891).
package dnsname

import (
	"errors"
	"strings"

	"golang.org/x/net/idna"
)

// Errors of Normalize.
var (
	ErrEmpty   = errors.New("empty domain name")
	ErrTooLong = errors.New("domain name longer than 253 octets")
	ErrLabel   = errors.New("domain name has an empty label or one longer than 63 octets")
	ErrChars   = errors.New("domain name has a character other than letters, digits, hyphen and dot")
	ErrHyphen  = errors.New("domain name label starts or ends with a hyphen")
	ErrNumeric = errors.New("domain name is all numeric")
)

// Normalize returns name lower-cased, without one trailing dot, and in
// A-label (xn--) form if it has U-labels, or an error saying which rule it
// breaks. Labels are letters, digits and hyphens, not starting or ending
// with a hyphen (RFC 5321 §4.1.2 Domain); an underscore is accepted as
// Postfix's valid_hostname does, because real senders use it. A name whose
// last label is all digits is refused: it is an address written as a name.
func Normalize(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", ErrEmpty
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		a, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", err
		}
		name = a
	} else {
		name = strings.ToLower(name)
	}
	if len(name) > 253 {
		return "", ErrTooLong
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", ErrChars
			}
			continue
		}
		label := name[start:i]
		if len(label) == 0 || len(label) > 63 {
			return "", ErrLabel
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", ErrHyphen
		}
		start = i + 1
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	if strings.Trim(last, "0123456789") == "" {
		return "", ErrNumeric
	}
	return name, nil
}

// IsSubdomain reports whether name equals parent or lies below it. Both
// must already be normalized. "evilexample.org" is not below "example.org".
func IsSubdomain(name, parent string) bool {
	return name == parent || strings.HasSuffix(name, parent) && name[len(name)-len(parent)-1] == '.'
}
