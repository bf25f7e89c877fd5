// Package generic recognises the names access providers give to dynamic or
// end-user addresses ("c-76-121-96-159.hsd1.wa.comcast.net"), as opposed
// to the names of mail servers. Package fcrdns judges a client's reverse
// DNS name with it, package helo the name a client gives in HELO: one
// recogniser, so that the two never disagree about the same name.
package generic

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Name reports whether name, a host name of ip (its PTR name, or the name
// it gave in HELO), looks like the name an access provider gives to a
// dynamic or end-user address rather than the name of a mail server, and
// says which rule found it. Only the host part is read: the labels left of
// the registrable domain (public suffix plus one label), so
// "dsl-provider.example.com" is no more generic than any other domain, and
// "dns.google" has no host part at all.
//
// The rules, in order:
//
//  1. A host part holding the word "static" or "business" is not generic:
//     providers mark the addresses they sell for servers that way
//     (Haraka's exemption).
//  2. The address is embedded (see Address).
//  3. A word (a run of letters) is one providers use for dynamic or
//     end-user pools: "dyn", "dynamic", "pool", "dsl", "dhcp", "cable",
//     "ppp", "dialup", "dip", "broadband", "residential", "cust", "cpe",
//     ... (see the source for the list).
func Name(ip netip.Addr, name string) (rule string, ok bool) {
	host := hostPart(name)
	if host == "" || exempt(host) {
		return "", false
	}
	if r := embedded(ip.Unmap(), host); r != "" {
		return r, true
	}
	var kw string
	words(host, func(w string) bool {
		if isPoolWord(w) {
			kw = w
		}
		return kw == ""
	})
	if kw != "" {
		return "its host part has the word " + strconv.Quote(kw), true
	}
	return "", false
}

// Address reports whether the host part of name (as for Name) encodes ip
// and is not marked "static" or "business" (rules 1 and 2 of Name), and
// says in which form. The forms:
//
//   - IPv4, decimal: two consecutive octets appear as numbers of at most
//     three digits (zero padding allowed) joined by one '-', '.' or '_',
//     in either order ("c-76-121-96-159", "m17-178", "92-67-42-100",
//     "7.2.0.192.rev");
//   - IPv4, all four octets as one zero-padded 12-digit number
//     ("188034255136"), in either order;
//   - IPv4, the four bytes as 8 hex digits ("0x3ec6ec81"), either order;
//   - IPv6, the whole address written with '-', '.' or '_' for ':'
//     ("2001-db8--1", "2001-0db8-0000-...-0001");
//   - IPv6, the 32 nibbles as 32 hex digits, or as 32 single-digit labels
//     or fields in either order (as under ip6.arpa).
//
// The IPv4 decimal rule is stricter than Haraka's is_ip_in_str, which
// takes any two octets appearing anywhere as substrings: that flags
// "mail1and2.example" for 1.2.3.4 and, in general, names with small
// numbers. Requiring the numbers to stand alone, next to each other, keeps
// the true cases (every one in Haraka's tests) and drops those. For IPv6
// only the whole address counts: two groups of it are the provider's
// prefix, shared by every customer and many servers.
func Address(ip netip.Addr, name string) (rule string, ok bool) {
	host := hostPart(name)
	if host == "" || exempt(host) {
		return "", false
	}
	if r := embedded(ip.Unmap(), host); r != "" {
		return r, true
	}
	return "", false
}

// exempt reports whether host has the word "static" or "business".
func exempt(host string) bool {
	var static bool
	words(host, func(w string) bool {
		static = w == "static" || w == "business"
		return !static
	})
	return static
}

// hostPart returns the labels of name left of its registrable domain,
// lower-cased, or "" if there are none.
func hostPart(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || len(name) > 253 {
		return ""
	}
	// A name under in-addr.arpa or ip6.arpa is an address written out
	// (Gmail writes one for a client without a PTR record): all of it
	// left of the suffix is host part.
	for _, arpa := range [...]string{".in-addr.arpa", ".ip6.arpa"} {
		if strings.HasSuffix(name, arpa) {
			return name[:len(name)-len(arpa)]
		}
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil || len(reg) >= len(name) {
		return ""
	}
	return name[:len(name)-len(reg)-1]
}

// words calls f with each run of ASCII letters in s until f returns false.
func words(s string, f func(string) bool) {
	for i := 0; i < len(s); {
		if !isLetter(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		if !f(s[i:j]) {
			return
		}
		i = j
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isSep(c byte) bool    { return c == '-' || c == '.' || c == '_' }

// isPoolWord reports whether w is a word access providers put in the names
// of dynamic or end-user addresses. The list is rspamd hfilter's and
// SpamAssassin's most common, kept to words that do not also name servers.
func isPoolWord(w string) bool {
	switch w {
	case "dyn", "dynamic", "dynip", "pool", "dsl", "adsl", "vdsl", "xdsl", "sdsl",
		"dhcp", "cable", "catv", "ppp", "pppoe", "dialup", "dialin", "dip",
		"broadband", "residential", "cust", "customer", "cpe", "ftth", "fios":
		return true
	}
	return false
}

// embedded returns which form of ip appears in host, or "".
func embedded(ip netip.Addr, host string) string {
	switch {
	case ip.Is4():
		return embedded4(ip.As4(), host)
	case ip.Is6():
		return embedded6(ip.As16(), host)
	}
	return ""
}

const hexdig = "0123456789abcdef"

// embedded4 returns which form of the IPv4 address b appears in host.
func embedded4(b [4]byte, host string) string {
	// Decimal: consecutive numbers of at most 3 digits, each joined to the
	// previous one by exactly one separator.
	prev, prevEnd := -1, -1
	for i := 0; i < len(host); {
		if !isDigit(host[i]) {
			i++
			continue
		}
		j := i
		for j < len(host) && isDigit(host[j]) {
			j++
		}
		run := host[i:j]
		if len(run) == 12 && (padded(b, run, false) || padded(b, run, true)) {
			return "its IP address is embedded as a zero-padded number"
		}
		v := -1
		if len(run) <= 3 {
			v, _ = strconv.Atoi(run)
		}
		if v >= 0 && v <= 255 && prev >= 0 && prevEnd == i-1 && isSep(host[i-1]) && adjacent(b, prev, v) {
			return "its IP address is embedded in decimal"
		}
		prev, prevEnd = v, j
		if v > 255 {
			prev = -1
		}
		i = j
	}
	// Hexadecimal: the four bytes as 8 hex digits, either order.
	var fwd, rev [8]byte
	for k := range 4 {
		fwd[2*k], fwd[2*k+1] = hexdig[b[k]>>4], hexdig[b[k]&15]
		rev[2*(3-k)], rev[2*(3-k)+1] = hexdig[b[k]>>4], hexdig[b[k]&15]
	}
	if strings.Contains(host, string(fwd[:])) || strings.Contains(host, string(rev[:])) {
		return "its IP address is embedded in hexadecimal"
	}
	return ""
}

// adjacent reports whether x, y are two consecutive octets of b, in either
// order.
func adjacent(b [4]byte, x, y int) bool {
	for k := range 3 {
		p, q := int(b[k]), int(b[k+1])
		if x == p && y == q || x == q && y == p {
			return true
		}
	}
	return false
}

// padded reports whether run is b's octets as four 3-digit numbers, in
// order or reversed.
func padded(b [4]byte, run string, reverse bool) bool {
	for k := range 4 {
		o := b[k]
		if reverse {
			o = b[3-k]
		}
		d := run[3*k : 3*k+3]
		if d[0] != '0'+o/100 || d[1] != '0'+o/10%10 || d[2] != '0'+o%10 {
			return false
		}
	}
	return true
}

// embedded6 returns which form of the IPv6 address b appears in host.
func embedded6(b [16]byte, host string) string {
	var nib [32]byte
	for k := range 16 {
		nib[2*k], nib[2*k+1] = hexdig[b[k]>>4], hexdig[b[k]&15]
	}
	var rev [32]byte
	for k := range 32 {
		rev[k] = nib[31-k]
	}
	if strings.Contains(host, string(nib[:])) || strings.Contains(host, string(rev[:])) {
		return "its IPv6 address is embedded in hexadecimal"
	}

	fields := splitFields(host)
	if nibbles(fields, nib[:]) || nibbles(fields, rev[:]) {
		return "its IPv6 address is embedded as nibbles"
	}
	if groups(fields, netip.AddrFrom16(b)) {
		return "its IPv6 address is embedded with its colons replaced"
	}
	return ""
}

// splitFields splits host at every separator ('-', '.', '_'); two
// separators in a row give an empty field, as "::" does in an address.
func splitFields(host string) []string {
	var fs []string
	start := 0
	for i := 0; i <= len(host); i++ {
		if i == len(host) || isSep(host[i]) {
			fs = append(fs, host[start:i])
			start = i + 1
		}
	}
	return fs
}

// nibbles reports whether len(want) consecutive fields are the single
// characters of want.
func nibbles(fields []string, want []byte) bool {
	for i := 0; i+len(want) <= len(fields); i++ {
		k := 0
		for k < len(want) && len(fields[i+k]) == 1 && fields[i+k][0] == want[k] {
			k++
		}
		if k == len(want) {
			return true
		}
	}
	return false
}

// groups reports whether consecutive fields are ip written with its colons
// replaced by separators: its eight groups, or the groups before and after
// a run of zero groups with an empty field ("::", two separators in a
// row) in place of the run. Leading zeros in a group are allowed. At least
// two groups must be written.
func groups(fields []string, ip netip.Addr) bool {
	b := ip.As16()
	var g [8]int
	for k := range 8 {
		g[k] = int(b[2*k])<<8 | int(b[2*k+1])
	}
	v := make([]int, len(fields))
	for i, f := range fields {
		v[i] = groupValue(f)
	}
	for i := range v {
		// The groups written before any "::".
		j, k := i, 0
		for j < len(v) && k < 8 && v[j] == g[k] {
			j, k = j+1, k+1
		}
		if k == 8 {
			return true
		}
		if j == len(v) || v[j] != empty {
			continue
		}
		// "::" stands for groups k to 8-n-1, which must be zero; the n
		// fields after it are the last n groups.
		for n := 1; n <= 7-k && j+n < len(v); n++ {
			if k+n >= 2 && zeroGap(g, k, 8-n) && matches(v[j+1:j+1+n], g[8-n:]) {
				return true
			}
		}
	}
	return false
}

// empty is groupValue's answer for an empty field; notGroup for a field
// that cannot be a group.
const (
	empty    = -1
	notGroup = -2
)

// groupValue returns the value of f as a group of an IPv6 address (1 to 4
// hex digits), empty, or notGroup.
func groupValue(f string) int {
	if f == "" {
		return empty
	}
	if len(f) > 4 {
		return notGroup
	}
	n := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case isDigit(c):
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		default:
			return notGroup
		}
	}
	return n
}

// zeroGap reports whether groups from to to-1 of g are all zero, and
// there is at least one of them.
func zeroGap(g [8]int, from, to int) bool {
	if from >= to {
		return false
	}
	for k := from; k < to; k++ {
		if g[k] != 0 {
			return false
		}
	}
	return true
}

// matches reports whether the values v are the groups g.
func matches(v []int, g []int) bool {
	for i := range v {
		if v[i] != g[i] {
			return false
		}
	}
	return true
}
