package spf

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// errMacro is a macro-string that breaks the grammar of RFC 7208 §7.1;
// errTooLong one that would expand beyond maxExpansion.
var (
	errMacro   = errors.New("invalid macro")
	errTooLong = errors.New("macro expansion too long")
)

// Macro letters allowed in a domain-spec, and in explanations and
// modifiers the RFC does not define (§7.1).
const (
	domainLetters = "slodiphv"
	allLetters    = "slodiphcrtv"
)

// maxExpansion bounds what one macro-string may expand to. A record of
// a few hundred bytes can ask for %{s} many times over; the longest use
// (an explanation) is cut well before this, and a domain name to look up
// may not be longer than 253 octets anyway.
const maxExpansion = 2048

// macroEnv holds the values the macro letters of RFC 7208 §7.3 expand to
// during one check_host() evaluation.
type macroEnv struct {
	sender    string // <sender>, with "postmaster" as local-part if it had none
	domain    string // <domain> of the record being evaluated
	ip        netip.Addr
	helo      string
	receiver  string    // %{r}: our own host name
	now       time.Time // %{t}
	validated string    // %{p}: the validated name of ip, if known
}

// expand returns the macro-string s (RFC 7208 §7.1) with its macros
// expanded. inExp says s is an explanation (the TXT record an exp=
// modifier points to): only there may it hold spaces and the letters c, r
// and t. The result is at most maxExpansion bytes: a longer explanation
// is cut there, a longer name is an error, as is any breach of the
// grammar.
func (e *macroEnv) expand(s string, inExp bool) (string, error) {
	if !strings.Contains(s, "%") {
		switch {
		case !literal(s, inExp):
			return "", errMacro
		case len(s) <= maxExpansion:
			return s, nil
		case inExp:
			return s[:maxExpansion], nil
		}
		return "", errTooLong
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			if !isMacroLiteral(c) && !(inExp && c == ' ') {
				return "", errMacro
			}
			b.WriteByte(c)
			i++
		} else {
			if i+1 >= len(s) {
				return "", errMacro
			}
			switch s[i+1] {
			case '%':
				b.WriteByte('%')
				i += 2
			case '_':
				b.WriteByte(' ')
				i += 2
			case '-':
				b.WriteString("%20")
				i += 2
			case '{':
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return "", errMacro
				}
				if err := e.expandOne(&b, s[i+2:i+end], inExp); err != nil {
					return "", err
				}
				i += end + 1
			default:
				return "", errMacro
			}
		}
		if b.Len() > maxExpansion {
			if inExp {
				// An explanation is cut short later anyway.
				return b.String()[:maxExpansion], nil
			}
			return "", errTooLong
		}
	}
	return b.String(), nil
}

// literal reports whether s is made of macro-literal characters only
// (and spaces, in an explanation).
func literal(s string, inExp bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || !isMacroLiteral(c) && !(inExp && c == ' ') {
			return false
		}
	}
	return true
}

// isMacroLiteral: macro-literal = %x21-24 / %x26-7E (visible ASCII but %).
func isMacroLiteral(c byte) bool { return c >= 0x21 && c <= 0x7e && c != '%' }

// expandOne writes the expansion of one macro, given the text between
// "%{" and "}" (RFC 7208 §7.3).
func (e *macroEnv) expandOne(b *strings.Builder, m string, inExp bool) error {
	mac, err := parseMacro(m)
	if err != nil {
		return err
	}
	value, ok := e.letter(mac.letter|0x20, inExp)
	if !ok {
		return errMacro
	}
	// The value is always split and joined again with dots, as the SPF
	// library does for the mechanisms it expands, so that both give the
	// same names (empty parts vanish).
	parts := strings.FieldsFunc(value, func(r rune) bool { return strings.ContainsRune(mac.delims, r) })
	if mac.reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if mac.keep > 0 && mac.keep < len(parts) {
		parts = parts[len(parts)-mac.keep:]
	}
	value = strings.Join(parts, ".")
	// An upper-case letter asks for URL escaping of everything outside
	// RFC 3986's unreserved set.
	if mac.letter >= 'A' && mac.letter <= 'Z' {
		value = urlEscape(value)
	}
	b.WriteString(value)
	return nil
}

// macro is one parsed macro-expand: "%{" macro-letter transformers
// *delimiter "}".
type macro struct {
	letter  byte   // as written: upper case asks for URL escaping
	keep    int    // DIGIT transformer: right-hand parts to keep; 0 = all
	reverse bool   // "r" transformer
	delims  string // delimiters to split on; "." when none are given
}

// parseMacro parses the text between "%{" and "}". It does not judge the
// letter beyond its being one of the grammar's (§7.1).
func parseMacro(m string) (macro, error) {
	var mac macro
	// Setting bit 5 lower-cases an ASCII letter and maps no other byte
	// onto one.
	if m == "" || !strings.ContainsRune(allLetters, rune(m[0]|0x20)) {
		return mac, errMacro
	}
	mac.letter = m[0]
	m = m[1:]
	// transformers = *DIGIT [ "r" ]
	n := 0
	for n < len(m) && m[n] >= '0' && m[n] <= '9' {
		n++
	}
	if n > 0 {
		// A DIGIT transformer must be nonzero (§7.3). Values beyond
		// the number of parts mean all of them, so a long string of
		// digits needs no exact value.
		digits := strings.TrimLeft(m[:n], "0")
		switch {
		case digits == "":
			return mac, errMacro
		case len(digits) > 4:
			mac.keep = 9999
		default:
			mac.keep, _ = strconv.Atoi(digits)
		}
		m = m[n:]
	}
	if m != "" && (m[0] == 'r' || m[0] == 'R') {
		mac.reverse = true
		m = m[1:]
	}
	// *delimiter, where delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
	for i := 0; i < len(m); i++ {
		if !strings.ContainsRune(".-+,/_=", rune(m[i])) {
			return mac, errMacro
		}
	}
	mac.delims = m
	if m == "" {
		mac.delims = "."
	}
	return mac, nil
}

// scanMacroString checks s against macro-string = *( macro-expand /
// macro-literal ) (§7.1), with spaces allowed too when spaces is set, and
// macro letters limited to letters (lower case). It returns the offset
// where the run of literal characters at the end of s begins (len(s) when
// s ends in a macro-expand).
func scanMacroString(s, letters string, spaces bool) (tail int, err error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			if !isMacroLiteral(c) && !(spaces && c == ' ') {
				return 0, errMacro
			}
			i++
			continue
		}
		if i+1 >= len(s) {
			return 0, errMacro
		}
		switch s[i+1] {
		case '%', '_', '-':
			i += 2
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return 0, errMacro
			}
			mac, err := parseMacro(s[i+2 : i+end])
			if err != nil || !strings.ContainsRune(letters, rune(mac.letter|0x20)) {
				return 0, errMacro
			}
			i += end + 1
		default:
			return 0, errMacro
		}
		tail = i
	}
	return tail, nil
}

// letter returns the value of a lower-case macro letter, and whether the
// letter may be used here.
func (e *macroEnv) letter(c byte, inExp bool) (string, bool) {
	switch c {
	case 's':
		return e.sender, true
	case 'l':
		l, _ := splitSender(e.sender)
		return l, true
	case 'o':
		_, d := splitSender(e.sender)
		return d, true
	case 'd':
		return e.domain, true
	case 'i':
		return dottedIP(e.ip), true
	case 'p':
		// "unknown" when there is no validated name (§7.3), or none
		// was looked up (see pmacro.go).
		if e.validated != "" {
			return e.validated, true
		}
		return "unknown", true
	case 'v':
		if e.ip.Is4() {
			return "in-addr", true
		}
		return "ip6", true
	case 'h':
		return e.helo, true
	}
	if !inExp {
		// c, r and t are allowed only in explanations (§7.1).
		return "", false
	}
	switch c {
	case 'c':
		return e.ip.String(), true
	case 'r':
		if e.receiver == "" {
			return "unknown", true
		}
		return e.receiver, true
	case 't':
		return strconv.FormatInt(e.now.Unix(), 10), true
	}
	return "", false
}

// dottedIP is the %{i} form of an address: dotted quad for IPv4, and 32
// dot-separated nibbles for IPv6 (RFC 7208 §7.3).
func dottedIP(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for _, x := range ip.As16() {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[x>>4], '.', hex[x&0xf])
	}
	return string(b)
}

// urlEscape percent-encodes the bytes of s outside the unreserved set of
// RFC 3986 §2.3 (ALPHA DIGIT - . _ ~).
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// splitSender splits <sender> at its last "@" into local-part and domain.
func splitSender(s string) (local, domain string) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// truncateName shortens an expanded domain name longer than 253 octets by
// removing labels from the left, as RFC 7208 §7.3 requires before it is
// looked up.
func truncateName(name string) string {
	name = strings.TrimSuffix(name, ".")
	for len(name) > 253 {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return ""
		}
		name = name[i+1:]
	}
	return name
}
