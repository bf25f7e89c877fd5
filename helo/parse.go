package helo

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// Kind is the form of a HELO/EHLO argument.
type Kind uint8

const (
	Invalid Kind = iota // neither a domain nor an address literal
	Domain              // a domain name (RFC 5321 §4.1.2 Domain)
	Literal             // an address literal: "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3)
	BareIP              // an address without the brackets RFC 5321 §4.1.3 requires
)

var kindNames = [...]string{"invalid", "domain", "literal", "bare-ip"}

// String returns "invalid", "domain", "literal" or "bare-ip".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// Argument is a parsed HELO/EHLO argument.
type Argument struct {
	Kind   Kind
	Domain string     // for Domain: lower-case A-labels without the trailing dot
	Addr   netip.Addr // for Literal and BareIP (an IPv4 address in IPv6 literal form stays IPv6)
}

// MaxLength is the longest HELO argument Parse accepts: the 255 octets of a
// domain (RFC 5321 §4.5.3.1.2), which is also more than any address
// literal needs.
const MaxLength = 255

// Errors of Parse; errors of dnsname.Normalize are returned as they are.
var (
	ErrEmpty      = errors.New("empty HELO argument")
	ErrTooLong    = errors.New("HELO argument longer than 255 octets")
	ErrSpace      = errors.New("HELO argument has a space or control character")
	ErrLiteral    = errors.New("malformed address literal")
	ErrLiteralTag = errors.New("address literal with a tag other than IPv6")
)

// Parse reads the argument of a HELO or EHLO command. It accepts
//
//   - a domain (RFC 5321 §4.1.2), as dnsname.Normalize does: LDH labels
//     (and underscores, as Postfix does: real mail servers use them, and
//     Exim's refusal of them is a configuration option), at most 63 octets
//     a label and 253 a name, one trailing dot, U-labels converted to
//     A-labels (RFC 5891);
//   - an address literal (RFC 5321 §4.1.3): "[" IPv4 "]" or "[IPv6:" IPv6
//     "]", the tag in any case (RFC 5234 strings are case-insensitive), no
//     zone;
//   - a bare address, which it reports as BareIP with a nil error: the
//     command was readable, but not in the form RFC 5321 requires. An
//     "IPv6:" prefix without brackets is a bare address too, as in Haraka.
//
// Anything else (empty, spaces, control bytes, CR or LF, longer than
// MaxLength, an all-numeric last label, a malformed literal) is Invalid,
// with an error saying why.
func Parse(s string) (Argument, error) {
	switch {
	case s == "":
		return Argument{}, ErrEmpty
	case len(s) > MaxLength:
		return Argument{}, ErrTooLong
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return Argument{}, ErrSpace
		}
	}
	if s[0] == '[' {
		return parseLiteral(s)
	}
	if ip, ok := parseAddr(s); ok {
		return Argument{Kind: BareIP, Addr: ip}, nil
	}
	d, err := dnsname.Normalize(s)
	if err != nil {
		return Argument{}, err
	}
	return Argument{Kind: Domain, Domain: d}, nil
}

func parseLiteral(s string) (Argument, error) {
	if len(s) < 3 || s[len(s)-1] != ']' {
		return Argument{}, ErrLiteral
	}
	in := s[1 : len(s)-1]
	if ip, err := netip.ParseAddr(in); err == nil {
		if !ip.Is4() {
			return Argument{}, ErrLiteral // an IPv6 literal needs its tag
		}
		return Argument{Kind: Literal, Addr: ip}, nil
	}
	tag, rest, ok := strings.Cut(in, ":")
	if !ok {
		return Argument{}, ErrLiteral
	}
	if !strings.EqualFold(tag, "IPv6") {
		return Argument{}, ErrLiteralTag
	}
	ip, err := netip.ParseAddr(rest)
	if err != nil || !ip.Is6() || ip.Zone() != "" {
		return Argument{}, ErrLiteral
	}
	return Argument{Kind: Literal, Addr: ip}, nil
}

// parseAddr parses a bare IPv4 or IPv6 address, with an optional "IPv6:"
// prefix and no zone.
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s = s[5:]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip, true
}
