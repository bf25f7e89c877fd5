package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/mtaguard/mtaguard/verdict"
)

// ErrSyntax is wrapped by the Err of a PermError result whose record
// breaks the grammar of RFC 7208 (§4.6, §5, §6, §7.1, §12). The SPF
// library reads records leniently and acts on the terms before an error,
// while §4.6 demands that a record with a syntax error anywhere yields
// permerror before any of it is used; so records are checked here first.
var ErrSyntax = errors.New("spf: record syntax error")

func syntaxError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, verdict.Printable(fmt.Sprintf(format, a...)))
}

// record is what the package needs of a parsed SPF record: the targets of
// its include mechanisms in order, and its redirect= and exp= modifiers.
type record struct {
	includes []string // domain-specs of the include mechanisms, in order
	redirect string   // domain-spec of redirect=, "" if none
	exp      string   // domain-spec of exp=, "" if none
}

// isSPF reports whether a TXT record is an SPF record, as the library
// selects them (RFC 7208 §4.5: "v=spf1" alone or followed by a space,
// case-insensitively).
func isSPF(txt string) bool {
	const v = "v=spf1"
	if len(txt) < len(v) || len(txt) > len(v) && txt[len(v)] != ' ' {
		return false
	}
	for i := range len(v) {
		c := txt[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != v[i] {
			return false
		}
	}
	return true
}

// parseRecord checks an SPF record against the ABNF of RFC 7208 and
// returns the parts of it the package uses. Any error wraps ErrSyntax.
func parseRecord(txt string) (*record, error) {
	if !isSPF(txt) {
		return nil, syntaxError("not an SPF record")
	}
	// record = version terms *SP; terms are separated by SP only, and
	// the whole record is 7-bit ASCII (§4.6.1, §3.1 via §12).
	for i := 0; i < len(txt); i++ {
		if c := txt[i]; c != ' ' && (c < 0x21 || c > 0x7e) {
			return nil, syntaxError("character 0x%02x at offset %d", c, i)
		}
	}
	rec := &record{}
	var haveRedirect, haveExp bool
	for _, t := range strings.Split(txt[6:], " ") {
		if t == "" {
			continue
		}
		if i := strings.IndexByte(t, '='); i > 0 && isModifierName(t[:i]) {
			name, value := strings.ToLower(t[:i]), t[i+1:]
			switch name {
			case "redirect", "exp":
				// §6: neither may appear more than once.
				if name == "redirect" && haveRedirect || name == "exp" && haveExp {
					return nil, syntaxError("%s= given twice", name)
				}
				if err := checkDomainSpec(value); err != nil {
					return nil, syntaxError("%s: %v", t, err)
				}
				if name == "redirect" {
					haveRedirect, rec.redirect = true, value
				} else {
					haveExp, rec.exp = true, value
				}
			default:
				// unknown-modifier = name "=" macro-string (§6, §12:
				// ignored, but it must still parse).
				if _, err := scanMacroString(value, allLetters, false); err != nil {
					return nil, syntaxError("%s: %v", t, err)
				}
			}
			continue
		}
		if err := checkDirective(t, rec); err != nil {
			return nil, syntaxError("%s: %v", t, err)
		}
	}
	return rec, nil
}

// isModifierName: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
func isModifierName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '-' || s[i] == '_' || s[i] == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// checkDirective checks directive = [ qualifier ] mechanism (§4.6.1, §5)
// and notes an include's target in rec.
func checkDirective(t string, rec *record) error {
	if strings.IndexByte("+-~?", t[0]) >= 0 {
		t = t[1:]
	}
	end := strings.IndexAny(t, ":/")
	if end < 0 {
		end = len(t)
	}
	name, rest := strings.ToLower(t[:end]), t[end:]
	switch name {
	case "all":
		if rest != "" {
			return errors.New("all takes no argument")
		}
	case "include", "exists":
		if !strings.HasPrefix(rest, ":") {
			return errors.New("domain-spec required")
		}
		if err := checkDomainSpec(rest[1:]); err != nil {
			return err
		}
		if name == "include" {
			rec.includes = append(rec.includes, rest[1:])
		}
	case "a", "mx":
		return checkDomainCIDR(rest)
	case "ptr":
		if rest == "" {
			return nil
		}
		if rest[0] != ':' {
			return errors.New("ptr takes no prefix length")
		}
		return checkDomainSpec(rest[1:])
	case "ip4", "ip6":
		if !strings.HasPrefix(rest, ":") {
			return errors.New("address required")
		}
		return checkNetwork(name, rest[1:])
	default:
		return errors.New("unknown mechanism")
	}
	return nil
}

// dualCIDR matches a dual-cidr-length at the end of a string; its
// leftmost match is the longest such suffix.
var dualCIDR = regexp.MustCompile(`(?:/([0-9]+))?(?://([0-9]+))?$`)

// checkDomainCIDR checks what follows "a" or "mx":
// [ ":" domain-spec ] [ dual-cidr-length ] (§5.3, §5.4).
func checkDomainCIDR(rest string) error {
	m := dualCIDR.FindStringSubmatchIndex(rest)
	domain := rest[:m[0]]
	cidrErr := checkDualCIDR(rest, m)
	if domain == "" {
		return cidrErr
	}
	if domain[0] != ':' {
		return errors.New("bad domain-spec or prefix length")
	}
	domErr := checkDomainSpec(domain[1:])
	if cidrErr == nil && domErr == nil {
		return nil
	}
	// The ABNF lets a domain-spec hold "/" ("a:foo:bar/baz.example.com"),
	// so what looked like a prefix length may be part of the name.
	if len(domain) < len(rest) && checkDomainSpec(rest[1:]) == nil {
		return nil
	}
	if cidrErr != nil {
		return cidrErr
	}
	return domErr
}

// checkDualCIDR checks the prefix lengths dualCIDR found in s.
func checkDualCIDR(s string, m []int) error {
	if m[2] >= 0 {
		if err := checkPrefix(s[m[2]:m[3]], 32); err != nil {
			return err
		}
	}
	if m[4] >= 0 {
		if err := checkPrefix(s[m[4]:m[5]], 128); err != nil {
			return err
		}
	}
	return nil
}

// checkPrefix checks a prefix length: "0" / %x31-39 0*2DIGIT, at most max.
func checkPrefix(s string, max int) error {
	if s == "" || len(s) > 3 || len(s) > 1 && s[0] == '0' {
		return errors.New("bad prefix length")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return errors.New("bad prefix length")
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > max {
		return errors.New("prefix length too long")
	}
	return nil
}

// checkNetwork checks ip4-network [ ip4-cidr-length ] or ip6-network
// [ ip6-cidr-length ] (§5.6).
func checkNetwork(mech, s string) error {
	addr, prefix, hasPrefix := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return errors.New("bad address")
	}
	max := 32
	if mech == "ip4" {
		if !ip.Is4() {
			return errors.New("not an IPv4 address")
		}
	} else {
		if !ip.Is6() {
			return errors.New("not an IPv6 address")
		}
		max = 128
	}
	if hasPrefix {
		return checkPrefix(prefix, max)
	}
	return nil
}

// checkDomainSpec checks domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (§7.1). The letters
// c, r and t are not allowed outside explanations.
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain-spec")
	}
	tail, err := scanMacroString(s, domainLetters, false)
	if err != nil {
		return err
	}
	if tail == len(s) {
		return nil // domain-end is a macro-expand
	}
	end := strings.TrimSuffix(s[tail:], ".")
	dot := strings.LastIndexByte(end, '.')
	if dot < 0 {
		return errors.New("domain-spec does not end in a top-level label or a macro")
	}
	if !isTopLabel(end[dot+1:]) {
		return errors.New("bad top-level label")
	}
	return nil
}

// isTopLabel: toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ).
func isTopLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	alpha, hyphen := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			alpha = true
		case c >= '0' && c <= '9':
		case c == '-':
			hyphen = true
		default:
			return false
		}
	}
	return alpha || hyphen
}
