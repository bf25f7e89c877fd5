// Package address reads the envelope addresses of an SMTP session (MAIL
// FROM and RCPT TO paths, RFC 5321 §4.1.2) in the one way every mtaguard
// package needs them: the domain an address belongs to. Package relay,
// which must decide routing, reads addresses far more strictly on its own.
package address

import (
	"net/netip"
	"strings"
)

// Split splits addr at the '@' that separates the local part from the
// domain: the last '@' outside a quoted local part. Angle brackets around
// the whole path and a source route (RFC 5321 Appendix C:
// "@a.example,@b.example:user@d.example") are removed first. ok is false
// when there is no such '@'.
func Split(addr string) (local, domain string, ok bool) {
	addr = strings.TrimSpace(addr)
	if len(addr) >= 2 && addr[0] == '<' && addr[len(addr)-1] == '>' {
		addr = addr[1 : len(addr)-1]
	}
	if strings.HasPrefix(addr, "@") {
		// A source route ends at the first ':'; no domain in it can hold one.
		if i := strings.IndexByte(addr, ':'); i >= 0 {
			addr = addr[i+1:]
		}
	}
	at := -1
	quoted := false
	for i := 0; i < len(addr); i++ {
		switch addr[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '@':
			if !quoted {
				at = i
			}
		}
	}
	if at < 0 {
		return "", "", false
	}
	return addr[:at], addr[at+1:], true
}

// Domain returns the domain of an envelope address as an SMTP server
// received it ("<alice@Example.ORG.>", "alice@example.org", with or
// without a source route), lower-cased and without one trailing dot. ok is
// false for the null sender ("" or "<>"), an address without a domain, and
// an address literal ("user@[192.0.2.1]"), which names a host, not a
// domain. Domain checks no syntax beyond that: callers that look the
// domain up in the DNS validate it as a DNS name.
func Domain(addr string) (string, bool) {
	_, d, ok := Split(addr)
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if !ok || d == "" || strings.HasPrefix(d, "[") {
		return "", false
	}
	return d, true
}

// Literal parses an RFC 5321 §4.1.3 address literal, "[192.0.2.1]" or
// "[IPv6:2001:db8::1]", and returns the address, IPv4-mapped ones
// unmapped. The IPv4 form must be a dotted quad, the IPv6 form an IPv6
// address without a zone; general literals ("[tag:text]") are refused.
func Literal(s string) (netip.Addr, bool) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return netip.Addr{}, false
	}
	inner := s[1 : len(s)-1]
	v6 := len(inner) > 5 && strings.EqualFold(inner[:5], "IPv6:")
	if v6 {
		inner = inner[5:]
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil || ip.Zone() != "" || ip.Is6() != v6 {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
