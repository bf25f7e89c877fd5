package relay

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnsname"
)

// maxAddress bounds the addresses parseAddress accepts. RFC 5321
// §4.5.3.1.3 allows a path of 256 octets; twice that leaves room for the
// long local parts of SRS and VERP that real senders use.
const maxAddress = 512

// Errors of parseAddress. They never reach a Reason: the check says
// "malformed address" and leaves the detail to Result.Err.
var (
	errEmpty   = errors.New("relay: empty address")
	errLong    = errors.New("relay: address too long")
	errChars   = errors.New("relay: address has a control character or invalid UTF-8")
	errRoute   = errors.New("relay: malformed source route")
	errLocal   = errors.New("relay: malformed local part")
	errDomain  = errors.New("relay: missing or malformed domain")
	errLiteral = errors.New("relay: malformed address literal")
	// errNonASCII: a byte above 127 in an address without SMTPUTF8.
	errNonASCII = errors.New("relay: non-ASCII address without SMTPUTF8")
)

// mailbox is an envelope address as the relay rules see it.
//
// A bare "postmaster" recipient has an empty domain and no literal; every
// other address has exactly one of them.
type mailbox struct {
	local   string     // local part as written (quotes kept), without the source route
	domain  string     // domain in dnsname.Normalize form; "" for a literal or bare postmaster
	literal netip.Addr // the address literal ([192.0.2.1], [IPv6:...]), unmapped
	// routed says that the local part, once unquoted, still holds a
	// routing character ('%', '!', '@' or ':'): the address names another
	// destination, so its domain alone does not make it local.
	routed bool
}

// postmaster reports whether a is the bare "postmaster" of RFC 5321 §4.5.1.
func (a mailbox) postmaster() bool { return a.domain == "" && !a.literal.IsValid() }

// String returns the address in the form SenderLogin receives: the local
// part as written, "@", and the normalised domain or the literal.
func (a mailbox) String() string {
	switch {
	case a.literal.IsValid() && a.literal.Is6():
		return a.local + "@[IPv6:" + a.literal.String() + "]"
	case a.literal.IsValid():
		return a.local + "@[" + a.literal.String() + "]"
	case a.domain == "":
		return a.local
	}
	return a.local + "@" + a.domain
}

// parseAddress reads an envelope address (a MAIL FROM or RCPT TO path,
// with or without its angle brackets) the way a relay check must: strictly
// enough that no form an MTA down the line would route elsewhere passes as
// local.
//
//   - A source route ("@a.example,@b.example:user@d.example") is checked
//     and dropped, as RFC 5321 §4.1.2 and Appendix C say to: the address
//     is what follows it.
//   - The local part is a dot-string or a quoted string (§4.1.2); UTF-8 is
//     allowed (RFC 6531). Leading, trailing and doubled dots are tolerated,
//     as Postfix tolerates them: they route nowhere.
//   - A quoted local part is looked into, as Postfix's
//     resolve_dequoted_address does: "user@remote"@local is routed.
//   - A second '@' outside quotes (user@remote@local) is malformed, as in
//     Haraka's parser.
//   - The domain is normalised by dnsname.Normalize (case, one trailing
//     dot, U-labels to A-labels); an all-numeric domain (user@1.2.3.4) and
//     a port (user@host:25) are malformed, as Postfix's resolver says.
//   - An address literal must be a valid IPv4 or IPv6 address; general
//     literals are refused.
//   - A bare "postmaster" is accepted only when rcpt is true (§4.5.1).
//   - A byte above 127 is refused unless smtputf8 (the client gave SMTPUTF8,
//     RFC 6531); with it, a domain in U-labels is mapped to A-labels by
//     UTS #46 non-transitional processing, as an MTA resolving it does.
func parseAddress(s string, rcpt, smtputf8 bool) (mailbox, error) {
	if len(s) > maxAddress {
		return mailbox{}, errLong
	}
	if strings.HasPrefix(s, "<") {
		if !strings.HasSuffix(s, ">") || len(s) < 2 {
			return mailbox{}, errChars
		}
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return mailbox{}, errEmpty
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return mailbox{}, errChars
		}
	}
	if !smtputf8 && !isASCII(s) {
		return mailbox{}, errNonASCII
	}
	if !utf8.ValidString(s) {
		return mailbox{}, errChars
	}
	if rcpt && strings.EqualFold(s, "postmaster") {
		return mailbox{local: s}, nil
	}
	if s[0] == '@' {
		var err error
		if s, err = dropRoute(s); err != nil {
			return mailbox{}, err
		}
	}

	var a mailbox
	var rest string
	if s != "" && s[0] == '"' {
		end, unquoted, ok := quotedString(s)
		if !ok {
			return mailbox{}, errLocal
		}
		a.local, rest = s[:end], s[end:]
		a.routed = strings.ContainsAny(unquoted, "%!@:")
	} else {
		i := 0
		for i < len(s) && isDotStringByte(s[i]) {
			i++
		}
		if i == 0 {
			return mailbox{}, errLocal
		}
		a.local, rest = s[:i], s[i:]
		// Of the routing characters only '%' and '!' are atext: '@' and
		// ':' cannot appear in a dot-string.
		a.routed = strings.ContainsAny(a.local, "%!")
	}
	if len(rest) < 2 || rest[0] != '@' {
		return mailbox{}, errDomain
	}
	domain := rest[1:]
	if domain[0] == '[' {
		ip, ok := address.Literal(domain)
		if !ok {
			return mailbox{}, errLiteral
		}
		a.literal = ip
		return a, nil
	}
	if !isASCII(domain) {
		// UTS #46 mapping first, so that a mapped trailing dot
		// ("example.net\u3002") is the one trailing dot Normalize drops.
		m, err := idna.Lookup.ToASCII(domain)
		if err != nil {
			return mailbox{}, errDomain
		}
		domain = m
	}
	d, err := dnsname.Normalize(domain)
	if err != nil {
		return mailbox{}, errDomain
	}
	a.domain = d
	return a, nil
}

// dropRoute removes an RFC 5321 A-d-l ("@one.example,@two.example:") from
// the front of s, after checking that each hop is a domain.
func dropRoute(s string) (string, error) {
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return "", errRoute
	}
	for hop := range strings.SplitSeq(s[:colon], ",") {
		if len(hop) < 2 || hop[0] != '@' {
			return "", errRoute
		}
		if _, err := dnsname.Normalize(hop[1:]); err != nil {
			return "", errRoute
		}
	}
	return s[colon+1:], nil
}

// isDotStringByte reports whether c may appear in an unquoted local part:
// atext (RFC 5321 §4.1.2), a dot, or a byte of a UTF-8 sequence (RFC 6531).
func isDotStringByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
}

// quotedString reads the RFC 5321 Quoted-string at the start of s and
// returns the index just past its closing quote and its unquoted content.
func quotedString(s string) (end int, unquoted string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i + 1, b.String(), true
		case '\\':
			// quoted-pairSMTP: a backslash and one printable ASCII character.
			if i+1 >= len(s) || s[i+1] < 0x20 || s[i+1] > 0x7e {
				return 0, "", false
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return 0, "", false
}
