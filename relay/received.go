package relay

import (
	"errors"
	"net/netip"
	"strings"
)

var (
	errReceived  = errors.New("unreadable Received field")
	errNoAddress = errors.New("the Received field records no client address")
)

// received is what Border needs from one Received: field.
type received struct {
	hasFrom bool       // the field has a "from" clause: it records a hand-over
	ip      netip.Addr // the client address the receiving host recorded
	helo    string     // the client's HELO/EHLO name, "" if not recorded
	auth    bool       // the with-protocol says SMTP AUTH (RFC 3848)
}

// parseReceived reads the value of a Received: field (RFC 5321 §4.4,
// RFC 5322 §3.6.7).
//
// The client address comes from the TCP-info comment that the receiving
// host writes after the "from" name, never from text the client chose:
//
//	from helo (name [192.0.2.1])                 Postfix, Sendmail, OpenSMTPD, Gmail
//	from helo (name [IPv6:2001:db8::1])          Postfix, Sendmail
//	from name ([192.0.2.1]:1234 helo=helo)       Exim
//	from [192.0.2.1] (port=1234 helo=helo)       Exim, no reverse DNS name
//	from [192.0.2.1]                             Exim, HELO same as the address
//	from helo (192.0.2.1)                        Exchange
//	from name (HELO helo) (192.0.2.1)            qmail
//
// The HELO name is the client's text and may hold anything the receiving
// host let through: Postfix keeps spaces (collapse_args) and brackets,
// though it replaces parentheses and a few other characters with '?'. So
// a HELO of "[127.0.0.1] by x" must not make the field look like one that
// records a loopback client: the bracketed "from" name counts as the
// address only when no comment follows that records one.
func parseReceived(v []byte) (received, error) {
	var f received
	s := string(v)
	i := skipSpace(s, 0)
	for i < len(s) && s[i] == '(' {
		c := scanComment(s, i)
		if !c.closed {
			return f, errReceived
		}
		i = skipSpace(s, c.end)
	}
	w, i := word(s, i)
	switch {
	case w == "" || strings.EqualFold(w, "by"):
		// No "from" clause: a step inside one host, or a field of
		// comments only, like qmail's "(qmail 1 invoked from network)".
		return f, nil
	case !strings.EqualFold(w, "from"):
		return f, errReceived
	}
	f.hasFrom = true

	// The "from" text runs to the first comment, or to a "by" that ends
	// the clause when there is no comment (Exim: "from [192.0.2.1] by").
	var from []string
	sawBy := false
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == '(' || s[i] == ';' {
			break
		}
		w, next := word(s, i)
		if len(from) > 0 && strings.EqualFold(w, "by") {
			sawBy = true
			break
		}
		from = append(from, w)
		i = next
	}
	if len(from) == 0 {
		return f, errReceived
	}

	// The first comment after the "from" text is the TCP-info. After a
	// "by" it is either the TCP-info that follows a HELO with spaces in
	// it (Postfix: "from a by b (unknown [192.0.2.1])") or a comment of
	// the "by" clause; only the first kind records an address.
	tcp := firstComment(s, i)
	helo, heloSet, qmail := "", false, false
	if tcp != nil && !sawBy && len(tcp.words) >= 2 && (tcp.words[0] == "HELO" || tcp.words[0] == "EHLO") {
		// qmail's "(HELO helo) (192.0.2.1)": the address must follow.
		helo, heloSet, qmail = strings.Join(tcp.words[1:], " "), true, true
		after := skipSpace(s, tcp.end)
		tcp = nil
		if after < len(s) && s[after] == '(' {
			c := scanComment(s, after)
			tcp = &c
		}
	}
	if tcp != nil {
		f.ip = tcp.address()
		if sawBy && !f.ip.IsValid() {
			tcp = nil // a comment of the "by" clause
		}
	}
	if tcp != nil {
		if h, ok := tcp.value("helo"); ok && !heloSet {
			helo, heloSet = h, true
		}
	}
	if !f.ip.IsValid() {
		// Exim writes the address itself as the "from" name when the
		// client has no verified host name; then the comment, if any,
		// holds only key=value items.
		lit, ok := bracketIP(from[0])
		if !ok || qmail || len(from) != 1 || tcp != nil && !tcp.onlyKeyValues() {
			return f, errNoAddress
		}
		f.ip = lit
	}
	if !f.ip.IsValid() || f.ip.IsUnspecified() {
		return f, errNoAddress
	}
	if !heloSet {
		helo = strings.Join(from, " ")
		if strings.EqualFold(helo, "unknown") {
			helo = ""
		}
	}
	f.helo = helo

	rest := i
	if tcp != nil {
		rest = tcp.end
	}
	f.auth = authProtocol(s, rest)
	return f, nil
}

// comment is a parenthesised comment of a Received field.
type comment struct {
	words  []string // its words outside nested comments
	end    int      // index just past it
	closed bool     // its closing parenthesis was found
}

// scanComment reads the comment that starts at s[i] == '('. A comment
// left open by the end of s is returned with closed false.
func scanComment(s string, i int) comment {
	c := comment{}
	depth := 0
	start := -1
	flush := func(j int) {
		if start >= 0 {
			c.words = append(c.words, s[start:j])
			start = -1
		}
	}
	for j := i; j < len(s); j++ {
		switch ch := s[j]; {
		case ch == '(':
			flush(j)
			depth++
		case ch == ')':
			flush(j)
			depth--
			if depth == 0 {
				c.end, c.closed = j+1, true
				return c
			}
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			flush(j)
		case depth == 1:
			if start < 0 {
				start = j
			}
			if ch == '\\' && j+1 < len(s) {
				j++
			}
		case ch == '\\' && j+1 < len(s):
			j++
		}
	}
	flush(len(s))
	c.end = len(s)
	return c
}

// firstComment returns the first comment at or after s[i], passing over
// words, before the end of the clauses (';').
func firstComment(s string, i int) *comment {
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == ';' {
			return nil
		}
		if s[i] == '(' {
			c := scanComment(s, i)
			return &c
		}
		_, i = word(s, i)
	}
}

// address returns the client address a TCP-info comment records: its
// first bracketed address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]",
// Exim's "[192.0.2.1]:1234"), else a bare address as its first word
// (Exchange "192.0.2.1", qmail "ident@192.0.2.1"). key=value items (Exim's
// helo=, ident=) and nested comments are not looked into.
func (c *comment) address() netip.Addr {
	for _, w := range c.words {
		if strings.IndexByte(w, '=') >= 0 {
			continue
		}
		if ip, ok := bracketIP(w); ok {
			return ip
		}
	}
	if len(c.words) > 0 {
		w := c.words[0]
		w = w[strings.LastIndexByte(w, '@')+1:]
		if ip, err := netip.ParseAddr(w); err == nil {
			return ip.WithZone("").Unmap()
		}
	}
	return netip.Addr{}
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

func (c *comment) onlyKeyValues() bool {
	for _, w := range c.words {
		if strings.IndexByte(w, '=') < 0 {
			return false
		}
	}
	return true
}

// bracketIP reads "[192.0.2.1]", "[IPv6:2001:db8::1]" or "[2001:db8::1]",
// optionally followed by ":port".
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
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

// authProtocol reports whether the field, read from s[i], has a
// "with" clause naming an authenticated protocol of RFC 3848.
func authProtocol(s string, i int) bool {
	with := false
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == ';' {
			return false
		}
		if s[i] == '(' {
			c := scanComment(s, i)
			if !c.closed {
				return false
			}
			i = c.end
			continue
		}
		var w string
		w, i = word(s, i)
		if with {
			switch strings.ToUpper(w) {
			case "ESMTPA", "ESMTPSA", "LMTPA", "LMTPSA",
				"UTF8SMTPA", "UTF8SMTPSA", "UTF8LMTPA", "UTF8LMTPSA":
				return true
			}
			return false
		}
		with = strings.EqualFold(w, "with")
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// word returns the run of s from i up to white space, '(' or ';'.
func word(s string, i int) (string, int) {
	j := i
	for j < len(s) {
		switch s[j] {
		case ' ', '\t', '\r', '\n', '(', ';':
			return s[i:j], j
		}
		j++
	}
	return s[i:j], j
}
