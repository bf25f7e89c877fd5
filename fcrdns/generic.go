package fcrdns

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Generic reports whether name, a PTR name of ip, looks like the name an
// access provider gives to a dynamic or end-user address rather than the
// name of a mail server, and says which rule found it. Only the host part
// is read: the labels left of the registrable domain (public suffix plus
// one label), so "dsl-provider.example.com" is no more generic than any
// other domain, and "dns.google" has no host part at all.
//
// The rules, in order:
//
//  1. A host part holding the word "static" or "business" is not generic:
//     providers mark the addresses they sell for servers that way
//     (Haraka's exemption).
//  2. The IPv4 address is embedded: two consecutive octets appear as
//     decimal numbers joined by one '-', '.' or '_' in either order
//     ("c-76-121-96-159", "m17-178", "92-67-42-100"); or all four as one
//     zero-padded 12-digit number ("188034255136"), or as 8 hex digits
//     ("0x3ec6ec81"), either order.
//  3. A word (a run of letters) is one providers use for dynamic or
//     end-user pools: "dyn", "dynamic", "pool", "dsl", "dhcp", "cable",
//     "ppp", "dialup", "dip", "broadband", "residential", "cust", "cpe",
//     ... (see the source for the list).
//
// Rule 2 is stricter than Haraka's is_ip_in_str, which takes any two
// octets appearing anywhere as substrings: that flags "mail1and2.example"
// for 1.2.3.4 and, in general, names with small numbers. Requiring the
// numbers to stand alone, next to each other, keeps the true cases
// (every one in Haraka's tests) and drops those. Rule 2 is IPv4 only, as
// in Haraka: IPv6 pools are named by words, when at all.
func Generic(ip netip.Addr, name string) (rule string, ok bool) {
	host := hostPart(name)
	if host == "" {
		return "", false
	}
	var static bool
	words(host, func(w string) bool {
		static = w == "static" || w == "business"
		return !static
	})
	if static {
		return "", false
	}
	if ip = ip.Unmap(); ip.Is4() {
		if r := embedded(ip.As4(), host); r != "" {
			return r, true
		}
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

// hostPart returns the labels of name left of its registrable domain,
// lower-cased, or "" if there are none.
func hostPart(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || len(name) > 253 {
		return ""
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

// embedded returns which form of the IPv4 address b appears in host, or "".
func embedded(b [4]byte, host string) string {
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
	const hexdig = "0123456789abcdef"
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

func isSep(c byte) bool { return c == '-' || c == '.' || c == '_' }

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
