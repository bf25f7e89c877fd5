package relay

import (
	"net/netip"
	"strings"
)

// This file reads the forms in which a receiving host writes its client's
// address in a Received field, and tells the host's text from the
// client's inside its comments.

// hasAddress reports whether s holds an IP address anywhere: a run of
// digits, hex letters, dots and colons that parses as one (with at least
// three dots or two colons, so that version numbers and times do not).
func hasAddress(s string) bool {
	isAddrByte := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
	}
	for i := 0; i < len(s); {
		if !isAddrByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAddrByte(s[j]) {
			j++
		}
		run := strings.Trim(s[i:j], ".:")
		if strings.Count(run, ".") >= 3 || strings.Count(run, ":") >= 2 {
			if _, ok := bareIP(run); ok {
				return true
			}
			for _, part := range strings.FieldsFunc(run, func(r rune) bool { return r == ':' }) {
				if _, err := netip.ParseAddr(part); err == nil && strings.Count(part, ".") == 3 {
					return true // "192.0.2.1:25", "1.2.3.4:5.6.7.8"
				}
			}
		}
		i = j
	}
	return false
}

// plainAddress reports whether w is an address as a HELO name is written:
// a bare address or an address literal, without a port.
func plainAddress(w string) bool {
	if _, err := netip.ParseAddr(w); err == nil {
		return true
	}
	if len(w) < 3 || w[0] != '[' || w[len(w)-1] != ']' {
		return false
	}
	inner := w[1 : len(w)-1]
	if len(inner) > 5 && strings.EqualFold(inner[:5], "IPv6:") {
		inner = inner[5:]
	}
	_, err := netip.ParseAddr(inner)
	return err == nil
}

// byClause reports whether the comment is the receiving host's own
// address in its "by" clause, as Exchange and amavisd write it: "by host
// (192.0.2.1) with", "by host (host [192.0.2.1]) (amavisd-new, port
// 10026) with". A TCP-info is followed by comments and "by" (or the end),
// never by "with", so this never passes over one.
func byClause(s string, cs comments, skip *commentSkipper, c *comment) bool {
	if w, _ := word(s, skip.past(s, cs, c.end)); !strings.EqualFold(w, "with") {
		return false
	}
	j := skipSpaceBack(s, c.start)
	k := j
	for k > 0 && !isSpace(s[k-1]) && s[k-1] != '(' && s[k-1] != ')' && s[k-1] != ';' {
		k--
	}
	if k == j {
		return false
	}
	j = skipSpaceBack(s, k)
	return j >= 2 && strings.EqualFold(s[j-2:j], "by") && (j == 2 || isSpace(s[j-3]))
}

// commentSkipper finds where a run of closed comments ends, remembering
// what it found so that a field of many comments is read in linear time.
type commentSkipper struct{ end map[int]int }

// past returns the index of the first byte that is neither white space
// nor part of a closed comment from s[i] on.
func (k *commentSkipper) past(s string, cs comments, i int) int {
	if k.end == nil {
		k.end = map[int]int{}
	}
	var path []int
	i = skipSpace(s, i)
	for i < len(s) && s[i] == '(' {
		if e, ok := k.end[i]; ok {
			i = e
			break
		}
		c := cs.at(i)
		if c == nil || !c.closed {
			break
		}
		path = append(path, i)
		i = skipSpace(s, c.end)
	}
	for _, p := range path {
		k.end[p] = i
	}
	return i
}

// skipSpaceBack returns the index just past the last non-space byte
// before s[i].
func skipSpaceBack(s string, i int) int {
	for i > 0 && isSpace(s[i-1]) {
		i--
	}
	return i
}

// heloKeyword reports whether w introduces the client's HELO text.
func heloKeyword(w string) bool {
	return strings.EqualFold(w, "HELO") || strings.EqualFold(w, "EHLO") || strings.EqualFold(w, "LHLO")
}

// isHELO reports whether the comment is the client's "(HELO name)"
// (qmail, CommuniGate Pro; EHLO and LMTP's LHLO too), never a TCP-info in
// the usual reading.
func (c *comment) isHELO() bool {
	return len(c.words) >= 1 && heloKeyword(c.words[0])
}

// heloText returns the text after the comment's HELO, EHLO or LHLO:
// "(HELO name)", "(account user HELO name)", "(HELO )" for an empty name.
func (c *comment) heloText() (string, bool) {
	for i, w := range c.words {
		if heloKeyword(w) {
			return strings.Join(c.words[i+1:], " "), true
		}
	}
	return "", false
}

// tcpInfo reports whether the comment has the shape of a TCP-info that
// follows a HELO name in the from-name ("(name [192.0.2.1])", "(192.0.2.1)",
// "([192.0.2.1]:1234 helo=...)"), not of a comment the host opens with a
// keyword of its own before client text ("(HELO ...)", "(account ...)",
// "(helo=...)").
func (c *comment) tcpInfo() bool {
	if !c.closed || len(c.words) == 0 || !c.address().IsValid() {
		return false
	}
	w := c.words[0]
	return !heloKeyword(w) && !strings.EqualFold(w, "account") && !strings.Contains(w, "=")
}

// address returns the client address a TCP-info comment records: its
// first bracketed address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]",
// Exim's "[192.0.2.1]:1234", "name[192.0.2.1]"), else a bare address as
// its first word (Exchange "192.0.2.1", qmail "ident@192.0.2.1", XMail
// "192.0.2.1:1234"). Text the host marks as the client's is not looked
// into (see hostWords); nor are key=value items and nested comments.
func (c *comment) address() netip.Addr {
	words := c.hostWords()
	for _, w := range words {
		if strings.Contains(w, "=") {
			continue
		}
		if b := strings.IndexByte(w, '['); b >= 0 {
			if ip, ok := bracketIP(w[b:]); ok {
				return ip
			}
		}
	}
	if len(words) > 0 {
		w := words[0]
		if ip, ok := bareIP(w[strings.LastIndexByte(w, '@')+1:]); ok {
			return ip
		}
	}
	return netip.Addr{}
}

// addresses returns every address the comment's host text holds in any
// of the forms of address, wherever it stands among the words (text the
// client wrote inside a comment of the host's can come before the host's
// own address): every bracketed one, and a bare one as the first word or
// after an ident ("ident@192.0.2.1"). A bare address elsewhere is a
// version number ("(Scalix SMTP Relay 10.0.1.3)").
func (c *comment) addresses() []netip.Addr {
	var ips []netip.Addr
	for i, w := range c.hostWords() {
		if strings.Contains(w, "=") {
			continue
		}
		if b := strings.IndexByte(w, '['); b >= 0 {
			if ip, ok := bracketIP(w[b:]); ok {
				ips = append(ips, ip)
				continue
			}
		}
		at := strings.LastIndexByte(w, '@')
		if i > 0 && at < 0 {
			continue
		}
		if ip, ok := bareIP(w[at+1:]); ok {
			ips = append(ips, ip)
		}
	}
	return ips
}

// hostWords returns the comment's words up to where the host marks the
// rest as the client's: a "HELO", "EHLO" or "LHLO" that opens the comment
// (qmail, CommuniGate Pro: "(HELO name)") or follows "account user"
// (CommuniGate Pro after SMTP AUTH), and a helo= item (Exim, Momentum).
// A comment of just "HELO" and an address literal is read whole: it is
// also the TCP-info of a client whose reverse DNS name is "HELO".
func (c *comment) hostWords() []string {
	for i, w := range c.words {
		switch {
		case heloKeyword(w) && (i == 0 && len(c.words) != 2 || i == 2 && strings.EqualFold(c.words[0], "account")):
			return c.words[:i]
		case len(w) > 5 && (strings.EqualFold(w[:5], "helo=") || strings.EqualFold(w[:5], "ehlo=")):
			return c.words[:i]
		}
	}
	return c.words
}

// value returns the value of the comment's first key=value item with the
// given key.
func (c *comment) value(key string) (string, bool) {
	for _, w := range c.words {
		if k, v, ok := strings.Cut(w, "="); ok && strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// wordIP reads an address that stands as a word of its own: an address
// literal in any of the forms of bracketIP, or a bare address.
func wordIP(w string) (netip.Addr, bool) {
	if ip, ok := bracketIP(w); ok {
		return ip, true
	}
	return bareIP(w)
}

// bareIP reads "192.0.2.1", "2001:db8::1" or "192.0.2.1:1234" (XMail).
func bareIP(w string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(w); err == nil {
		return ip.WithZone("").Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(w); err == nil && ap.Addr().Is4() && !strings.HasPrefix(w, "[") {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

// bracketIP reads "[192.0.2.1]", "[IPv6:2001:db8::1]" or "[2001:db8::1]",
// optionally followed by ":port" (Exim), and the forms with the port
// inside: "[192.0.2.1:1234]" (Momentum) and "[192.0.2.1.1234]" (Exim 3).
func bracketIP(w string) (netip.Addr, bool) {
	if len(w) < 3 || w[0] != '[' {
		return netip.Addr{}, false
	}
	end := strings.IndexByte(w, ']')
	if end < 0 {
		return netip.Addr{}, false
	}
	if port := w[end+1:]; port != "" {
		if len(port) < 2 || port[0] != ':' || strings.Trim(port[1:], "0123456789") != "" {
			return netip.Addr{}, false
		}
	}
	inner := w[1:end]
	if len(inner) > 5 && strings.EqualFold(inner[:5], "IPv6:") {
		inner = inner[5:]
	}
	ip, err := netip.ParseAddr(inner)
	if err != nil {
		if ap, err := netip.ParseAddrPort(inner); err == nil && ap.Addr().Is4() {
			ip = ap.Addr()
		} else if dot := strings.LastIndexByte(inner, '.'); dot > 0 && strings.Count(inner, ".") == 4 &&
			inner[dot+1:] != "" && strings.Trim(inner[dot+1:], "0123456789") == "" {
			if ip, err = netip.ParseAddr(inner[:dot]); err != nil {
				return netip.Addr{}, false
			}
		} else {
			return netip.Addr{}, false
		}
	}
	return ip.WithZone("").Unmap(), true
}
