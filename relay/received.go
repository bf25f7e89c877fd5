package relay

import (
	"errors"
	"net/mail"
	"net/netip"
	"sort"
	"strings"
)

var (
	errReceived  = errors.New("unreadable Received field")
	errNoAddress = errors.New("the Received field records no client address")
	errAmbiguous = errors.New("the Received field can be read as recording more than one client address")
)

// received is what Border needs from one Received: field.
type received struct {
	hasFrom bool // the field has a "from" clause: it records a hand-over

	// trusted reports that the client is one of ours however the field
	// is read: the walk goes on below it.
	trusted bool

	ip   netip.Addr // otherwise, the client: an address outside the trusted networks
	helo string     // the client's HELO/EHLO name, "" if not recorded
	auth bool       // the with-protocol says SMTP AUTH (RFC 3848)
}

// parseReceived reads the value of a Received: field (RFC 5321 §4.4,
// RFC 5322 §3.6.7); ours reports whether an address is one of our hops.
//
// The client address comes from the TCP-info comment that the receiving
// host writes after the "from" name:
//
//	from helo (name [192.0.2.1])                 Postfix, Sendmail, OpenSMTPD, Gmail
//	from helo (name [IPv6:2001:db8::1])          Postfix, Sendmail
//	from name ([192.0.2.1]:1234 helo=helo)       Exim
//	from [192.0.2.1] (port=1234 helo=helo)       Exim, no reverse DNS name
//	from [192.0.2.1]                             Exim, HELO same as the address
//	from helo (192.0.2.1)                        Exchange
//	from name (HELO helo) (192.0.2.1)            qmail
//
// The rest of the field is not all the receiving host's. The client chose
// the HELO name before the TCP-info, which an MTA may write verbatim,
// parentheses, brackets, "by" and ';' included (Postfix keeps spaces and
// brackets and replaces parentheses); text in comments between the
// TCP-info and "by" (Postfix's client certificate CN); lines of its data
// that start with white space, which continue the field (hostPart cuts
// them off after the date); and, like whoever sent the message, the
// recipient ("for <...>") and sender (Exim's "envelope-from <...>") after
// "by". So there can be text on both sides of the TCP-info that looks
// like one, and no reading of the field can tell which comment the host
// wrote. parseReceived does not guess. It collects every address the
// field could be read as recording (every closed comment that holds one,
// wherever it starts, but the host's own address in Exchange's "by host
// (192.0.2.1) with"), among which is the TCP-info the host wrote, and
// decides only what holds whichever of them that is:
//
//   - if all of them are ours, and so is the one the usual reading gives
//     (the first comment after the "from" name), the client is one of
//     ours and the walk goes on;
//   - if exactly one of them is outside ours, the client is that address
//     or one of ours. A hop of ours writes a benign HELO name, so the
//     usual reading of its field gives its address, and so does one of
//     the readings in RFC 5321's shape "(TCP-info) [comments] by". If
//     the usual reading gives the outside address, or all the readings
//     do, the client is not ours: it is that address;
//   - otherwise the field is an error: the walk must not go on, and there
//     is no address to name that the client may not have chosen.
//
// A HELO name with parentheses thus never names a client of its choosing:
// its fake comment is followed by the host's real one, or by a "by" the
// name holds, and either way the host's address is in the set.
func parseReceived(v []byte, ours func(netip.Addr) bool) (received, error) {
	var f received
	s := hostPart(string(v))
	cs := scanComments(s)
	i := skipSpace(s, 0)
	for i < len(s) && s[i] == '(' {
		c := cs.at(i)
		if c == nil || !c.closed {
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
	from := i

	usual, err := cs.usual(s, from)
	rs := cs.readings(s, from)

	// Every address the field could be read as recording that is not
	// ours; the TCP-info the host wrote is among the addresses.
	var outside []netip.Addr
	found := err == nil
	add := func(ip netip.Addr) {
		found = true
		if ours(ip) && !ip.IsUnspecified() || len(outside) == 2 {
			return // two are as many as need telling apart
		}
		for _, o := range outside {
			if o == ip {
				return
			}
		}
		outside = append(outside, ip)
	}
	if err == nil {
		add(usual.ip)
	}
	for k := range cs {
		c := &cs[k]
		// qmail's "(HELO name)" counts too: a TCP-info can look like it
		// ("(HELO [192.0.2.1])" from Sendmail for a client whose
		// reverse DNS name is HELO).
		if c.start < from || !c.closed || c.byClause(s) {
			continue
		}
		if ip := c.address(); ip.IsValid() {
			add(ip)
		}
	}
	for _, r := range rs {
		if r.c == nil {
			add(r.ip) // Exim's "from [192.0.2.1] by"
		}
	}
	fail := func() (received, error) {
		if err == nil && found {
			err = errAmbiguous
		}
		return received{hasFrom: true}, err
	}

	switch {
	case !found:
		return fail()
	case len(outside) == 0 && err == nil:
		f.trusted = true
		return f, nil
	case len(outside) != 1 || outside[0].IsUnspecified():
		return fail()
	}
	ip := outside[0]
	switch {
	case err == nil && usual.ip == ip:
		f.ip, f.helo = usual.ip, usual.helo
	case len(rs) > 0 && allAt(rs, ip):
		f.ip, f.helo = ip, rs[0].helo(s, from)
	default:
		return fail()
	}
	f.auth = authProtocol(s[from:])
	return f, nil
}

// hostPart returns the field up to the end of its first line that ends
// in "; date-time" (RFC 5322 §3.3), as the receiving host ends it. What
// follows are lines of the client: a message whose first line starts with
// white space continues the field its receiving host put on top. No
// client text before the date holds a line break.
func hostPart(s string) string {
	const maxDateLine = 100 // "Mon, 01 Dec 2025 02:00:00 -0800 (PST)" and a little more
	for i := 0; ; {
		semi := strings.IndexByte(s[i:], ';')
		if semi < 0 {
			return s
		}
		i += semi + 1
		j := skipSpace(s, i) // Gmail breaks the line before the date
		line := s[j:min(len(s), j+maxDateLine)]
		if nl := strings.IndexByte(line, '\n'); nl >= 0 && isDate(line[:nl]) {
			return s[:j+nl+1]
		}
	}
}

// isDate reports whether s is an RFC 5322 date-time, optionally followed
// by a comment: "Mon, 1 Dec 2025 10:00:00 +0000 (UTC)".
func isDate(s string) bool {
	s = strings.TrimRight(s, " \t\r")
	if strings.HasSuffix(s, ")") {
		s = strings.TrimRight(s[:strings.LastIndexByte(s, '(')+1], " \t(")
	}
	// mail.ParseDate reads up to the zone and lets anything follow it.
	if z := strings.IndexAny(s, "+-"); z >= 0 {
		if len(s) != z+5 {
			return false
		}
	} else if zone := s[strings.LastIndexAny(s, " \t")+1:]; len(zone) < 1 || len(zone) > 3 ||
		strings.Trim(strings.ToUpper(zone), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return false // obs-zone: "GMT", "EST", "Z"
	}
	_, err := mail.ParseDate(s)
	return err == nil
}

func allAt(rs []reading, ip netip.Addr) bool {
	for _, r := range rs {
		if r.ip != ip {
			return false
		}
	}
	return true
}

// usualReading is the field read as the receiving host writes it when
// the HELO name holds no parenthesis.
type usualReading struct {
	ip   netip.Addr
	helo string
}

// usual reads the "from" clause that starts at s[i] the way the receiving
// hosts write it: the HELO (or host) name, then the TCP-info comment.
func (cs comments) usual(s string, i int) (usualReading, error) {
	var u usualReading

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
		return u, errReceived
	}

	// The first comment after the "from" text is the TCP-info. After a
	// "by" it is either the TCP-info that follows a HELO with spaces in
	// it (Postfix: "from a by b (unknown [192.0.2.1])") or a comment of
	// the "by" clause; only the first kind records an address.
	tcp := cs.next(s, i)
	if tcp != nil && !tcp.closed {
		return u, errReceived
	}
	helo, heloSet, qmail := "", false, false
	if tcp != nil && !sawBy && tcp.isHELO() {
		// qmail's "(HELO helo) (192.0.2.1)": the address must follow.
		helo, heloSet, qmail = strings.Join(tcp.words[1:], " "), true, true
		after := skipSpace(s, tcp.end)
		tcp = nil
		if after < len(s) && s[after] == '(' {
			if tcp = cs.at(after); tcp == nil || !tcp.closed {
				return u, errReceived
			}
		}
	}
	if tcp != nil {
		u.ip = tcp.address()
		if sawBy && !u.ip.IsValid() {
			tcp = nil // a comment of the "by" clause
		}
	}
	if tcp != nil {
		if h, ok := tcp.value("helo"); ok && !heloSet {
			helo, heloSet = h, true
		}
	}
	if !u.ip.IsValid() {
		// Exim writes the address itself as the "from" name when the
		// client has no verified host name; then the comment, if any,
		// holds only key=value items.
		lit, ok := bracketIP(from[0])
		if !ok || qmail || len(from) != 1 || tcp != nil && !tcp.onlyKeyValues() {
			return u, errNoAddress
		}
		u.ip = lit
	}
	if u.ip.IsUnspecified() {
		return u, errNoAddress
	}
	if !heloSet {
		helo = knownHELO(strings.Join(from, " "))
	}
	u.helo = helo
	return u, nil
}

// reading is a place in a "from" clause that has the shape of the
// TCP-info followed by the "by" clause (RFC 5321 §4.4: From-domain
// By-domain, comments allowed between them).
type reading struct {
	start int
	ip    netip.Addr
	c     *comment // nil when the "from" name itself is the address (Exim)
	lit   string
	by    int // index just past the "by" that follows, or -1 (';' or end)
}

// readings returns the places in the "from" clause starting at s[from]
// that could be the receiving host's TCP-info: an address comment with
// text before it, followed by comments without an address and "by" (or
// the end of the clauses), or an address literal as the whole "from" name
// followed by key=value comments only (Exim). A HELO name, a recipient or
// a sender written by the client can add readings; the one the host wrote
// is always among them. A reading whose "by" is followed by one word and
// another such reading is dropped: a host writes its own name after "by"
// and never a TCP-info, so that "by" was the client's.
func (cs comments) readings(s string, from int) []reading {
	var rs []reading
	j := skipSpace(s, from)
	if w, k := word(s, j); w != "" {
		if ip, ok := bracketIP(w); ok {
			if ok, by := cs.follows(s, k, true); ok {
				rs = append(rs, reading{start: j, ip: ip, lit: w, by: by})
			}
		}
	}
	for k := range cs {
		c := &cs[k]
		if c.start < from || !c.closed || c.isHELO() || skipSpace(s, from) >= c.start {
			continue
		}
		ip := c.address()
		if !ip.IsValid() {
			continue
		}
		if ok, by := cs.follows(s, c.end, false); ok {
			rs = append(rs, reading{start: c.start, ip: ip, c: c, by: by})
		}
	}
	kept := rs[:0]
	for n, r := range rs {
		if r.by >= 0 && n+1 < len(rs) {
			j := skipSpace(s, r.by)
			if j < len(s) && s[j] != '(' {
				_, j = word(s, j)
				j = skipSpace(s, j)
			}
			if k := sort.Search(len(rs), func(k int) bool { return rs[k].start >= j }); k < len(rs) && rs[k].start == j && rs[k].by >= 0 {
				continue
			}
		}
		kept = append(kept, r)
	}
	return kept
}

// follows reports whether s[i:] starts with zero or more closed comments
// that record no address (only key=value items if kv), then "by", ';' or
// the end; by is the index just past that "by", or -1.
func (cs comments) follows(s string, i int, kv bool) (ok bool, by int) {
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == ';' {
			return true, -1
		}
		if s[i] == '(' {
			c := cs.at(i)
			if c == nil || !c.closed || c.address().IsValid() || kv && !c.onlyKeyValues() {
				return false, -1
			}
			i = c.end
			continue
		}
		w, j := word(s, i)
		if strings.EqualFold(w, "by") {
			return true, j
		}
		return false, -1
	}
}

// helo returns the HELO name the reading records: Exim's helo= item, the
// "from" literal, or all the text before the reading.
func (r *reading) helo(s string, from int) string {
	if r.c == nil {
		return r.lit
	}
	if h, ok := r.c.value("helo"); ok {
		return h
	}
	return knownHELO(strings.Join(strings.Fields(s[from:r.start]), " "))
}

func knownHELO(h string) string {
	if strings.EqualFold(h, "unknown") {
		return ""
	}
	return h
}

// comment is a parenthesised comment of a Received field.
type comment struct {
	start  int      // index of its '('
	end    int      // index just past its ')', or len(s)
	closed bool     // its closing parenthesis was found
	words  []string // its words outside nested comments
}

// comments are the comments of a field, nested ones included, in the
// order they open.
type comments []comment

// scanComments finds every comment of s in one pass. Inside a comment a
// backslash quotes the next character (RFC 5322 §3.2.1); outside, the
// characters are words and a ')' is a character like any other.
func scanComments(s string) comments {
	var cs comments
	var open []int // cs indexes of the comments open at j, innermost last
	start := -1    // start of the word being read in the innermost one
	flush := func(j int) {
		if start >= 0 {
			c := &cs[open[len(open)-1]]
			c.words = append(c.words, s[start:j])
			start = -1
		}
	}
	for j := 0; j < len(s); j++ {
		switch ch := s[j]; {
		case ch == '(':
			flush(j)
			cs = append(cs, comment{start: j})
			open = append(open, len(cs)-1)
		case len(open) == 0:
		case ch == ')':
			flush(j)
			c := &cs[open[len(open)-1]]
			c.end, c.closed = j+1, true
			open = open[:len(open)-1]
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			flush(j)
		default:
			if start < 0 {
				start = j
			}
			if ch == '\\' && j+1 < len(s) {
				j++
			}
		}
	}
	if len(open) > 0 {
		flush(len(s))
	}
	for _, k := range open {
		cs[k].end = len(s)
	}
	return cs
}

// at returns the comment that opens at s[i], or nil.
func (cs comments) at(i int) *comment {
	k := sort.Search(len(cs), func(k int) bool { return cs[k].start >= i })
	if k < len(cs) && cs[k].start == i {
		return &cs[k]
	}
	return nil
}

// next returns the first comment at or after s[i], passing over words,
// before the end of the clauses (';').
func (cs comments) next(s string, i int) *comment {
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == ';' {
			return nil
		}
		if s[i] == '(' {
			return cs.at(i)
		}
		_, i = word(s, i)
	}
}

// isHELO reports whether the comment is qmail's "(HELO name)": client
// text, never a TCP-info.
func (c *comment) isHELO() bool {
	return len(c.words) >= 2 && (c.words[0] == "HELO" || c.words[0] == "EHLO")
}

// byClause reports whether the comment is the receiving host's own
// address in its "by" clause, as Exchange writes it: "by host
// (192.0.2.1) with". A TCP-info is followed by "by" or a comment, never
// by "with", so this never passes over one.
func (c *comment) byClause(s string) bool {
	if w, _ := word(s, skipSpace(s, c.end)); !strings.EqualFold(w, "with") {
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

// authProtocol reports whether the "from" clause s records an
// authenticated submission: a "with" protocol of RFC 3848 (ESMTPA,
// ESMTPSA, ...). Client text can hold "with ESMTPSA" anywhere, even where
// it reads as outside any comment, but it cannot take out the protocol
// the host wrote; so every "with" in the field counts, and one that names
// any other protocol makes the answer no. "with cipher" in Postfix's TLS
// comment is not a protocol.
func authProtocol(s string) bool {
	words := strings.FieldsFunc(s, func(r rune) bool {
		return r <= ' ' || strings.ContainsRune(`()<>[];,"`, r)
	})
	auth := false
	for k := 0; k+1 < len(words); k++ {
		if !strings.EqualFold(words[k], "with") {
			continue
		}
		switch p := strings.ToUpper(words[k+1]); p {
		case "ESMTPA", "ESMTPSA", "LMTPA", "LMTPSA",
			"UTF8SMTPA", "UTF8SMTPSA", "UTF8LMTPA", "UTF8LMTPSA":
			auth = true
		case "CIPHER":
		default:
			return false
		}
	}
	return auth
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
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
