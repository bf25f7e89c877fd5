package relay

import (
	"errors"
	"net/mail"
	"net/netip"
	"sort"
	"strings"
)

// This file interprets Received: fields (RFC 5321 §4.4, RFC 5322 §3.6.7)
// for Border; comment.go splits them into words and comments.

var (
	errReceived  = errors.New("unreadable Received field")
	errNoAddress = errors.New("the Received field records no client address")
	errAmbiguous = errors.New("the Received field can be read as recording more than one client address")
)

// received is what Border needs from one Received: field.
type received struct {
	hasFrom bool // the field records a client: it records a hand-over

	// trusted reports that the client is one of ours however the field
	// is read: the walk goes on below it.
	trusted bool

	ip   netip.Addr // otherwise, the client: an address outside the trusted networks
	helo string     // the client's HELO/EHLO/LHLO name, "" if not recorded
	auth bool       // the with-protocol says SMTP AUTH (RFC 3848)
}

// parseReceived reads the value of a Received: field, line ends kept;
// ours reports whether an address is one of our hops.
//
// The receiving host records its client in the "from" clause, in one of
// these shapes (name is the client's HELO name or its reverse DNS name,
// depending on the MTA):
//
//	from helo (name [192.0.2.1])                 Postfix, Sendmail, OpenSMTPD, Gmail
//	from helo (name [IPv6:2001:db8::1])          Postfix, Sendmail
//	from name ([192.0.2.1]:1234 helo=helo)       Exim, Momentum ([192.0.2.1:1234])
//	from [192.0.2.1] (port=1234 helo=helo)       Exim, no reverse DNS name
//	from [192.0.2.1]                             Exim, HELO same as the address
//	from name (helo) [192.0.2.1.1234] (ident)    Exim 3
//	from helo (192.0.2.1)                        Exchange, XMail (192.0.2.1:1234)
//	from helo ([192.0.2.1])                      Microsoft SMTPSVC, Sendmail
//	from ([192.0.2.1])                           an empty HELO name
//	from name (HELO helo) (192.0.2.1)            qmail; "(HELO )" for an empty one
//	from [192.0.2.1] (HELO helo)                 CommuniGate Pro
//	from [192.0.2.1] (account user HELO helo)    CommuniGate Pro, after SMTP AUTH
//	from name (EHLO helo) [192.0.2.1]            GMX
//	from name [192.0.2.1] by                     QMQP, fetchmail, MDaemon
//	from 192.0.2.1 by                            a bare address
//	(from name [192.0.2.1]) by                   a comment instead of a clause
//
// So the client's address is either in a comment (the TCP-info) or a word
// of its own, and only text the receiving host wrote records it: the text
// after the "HELO", "EHLO" or "LHLO" that opens a comment (or follows
// "account user") and after a helo= item is the client's, whatever it
// holds (see comment.hostWords).
//
// The rest of the field is not all the receiving host's either. The client
// chose the HELO name, which an MTA may write verbatim, parentheses,
// brackets, "by" and ';' included (Postfix keeps spaces and brackets and
// replaces parentheses); text in comments between the TCP-info and "by"
// (Postfix's client certificate CN); lines of its data that start with
// white space, which continue the field (hostPart cuts them off after the
// date); and, like whoever sent the message, the recipient ("for <...>")
// and sender (Exim's "envelope-from <...>") after "by". So there can be
// text on both sides of the host's address that looks like one, and no
// reading of the field can tell which the host wrote. parseReceived does
// not guess. It collects every address the field could be read as
// recording, among which is the one the host wrote, and decides only what
// holds whichever of them that is:
//
//   - if all of them are ours, and so is the one the usual reading gives
//     (the reading of the shapes above with a HELO name free of
//     parentheses), the client is one of ours and the walk goes on;
//   - if exactly one of them is outside ours, the client is that address
//     or one of ours. A hop of ours writes a benign HELO name, so the
//     usual reading of its field gives its address, and so does one of
//     the readings in RFC 5321's shape "address [comments] by". If the
//     usual reading gives the outside address, or all the readings do,
//     the client is not ours: it is that address;
//   - otherwise the field is an error: the walk must not go on, and there
//     is no address to name that the client may not have chosen.
//
// The addresses collected are those of every closed comment after "from"
// (but the host's own in Exchange's "by host (192.0.2.1) with"), every
// address that is a word of its own after "from" (but the "by" host's, and
// a HELO literal that the host's TCP-info comment follows, as in Postfix's
// "from [192.168.1.2] (name [192.0.2.1])"), and the usual reading's.
func parseReceived(v string, ours func(netip.Addr) bool) (received, error) {
	s := hostPart(v)
	cs := scanComments(s)
	its := cs.items(s, 0)
	k := 0
	for k < len(its) && its[k].c != nil {
		if !its[k].c.closed {
			return received{}, errReceived
		}
		k++
	}
	switch {
	case k < len(its) && its[k].isWord("from"):
	case k == len(its) || its[k].semi || its[k].isWord("by"):
		return commentClient(s, its[:k], ours)
	default:
		return received{}, errReceived
	}
	return parseFrom(s, cs, its[k+1:], ours)
}

// commentClient reads a field without a "from" clause whose leading
// comments lead are all it has before "by". Most such fields record a
// step inside one host ("(qmail 1 invoked by uid 89)"); one whose comment
// is a "from" clause is read as that clause ("(from name [192.0.2.1]) by
// host", Norton AntiVirus gateways), and one that records an address in
// any other comment is an error.
//
// The name in "(from name [192.0.2.1])" is the client's HELO name, which
// can close the comment early ("(from x) by y [192.0.2.1]) by host"): so
// the rest of the field is read with it, and a "from" comment that gives
// no address is passed over ("(from root@localhost) by host (8.14.4/
// Submit)", Sendmail's local submission) only if no address stands
// anywhere in the field.
func commentClient(s string, lead []item, ours func(netip.Addr) bool) (received, error) {
	var rec *comment
	for _, it := range lead {
		if !fromComment(it.c) && !hasAddress(s[it.start:it.end]) {
			continue
		}
		if rec != nil {
			return received{hasFrom: true}, errAmbiguous
		}
		rec = it.c
	}
	if rec == nil {
		return received{}, nil
	}
	if !fromComment(rec) {
		return received{hasFrom: true}, errReceived
	}
	// Read it as the clause it stands for: "from name [192.0.2.1] by host".
	inner := s[rec.start+1 : rec.end-1]
	_, after := word(inner, skipSpace(inner, 0))
	f, err := parseReceived("from "+inner[after:]+" "+s[rec.end:], ours)
	if err != nil && !hasAddress(s) {
		return received{}, nil
	}
	f.hasFrom = true
	return f, err
}

// fromComment reports whether c opens with "from": "(from name [192.0.2.1])".
func fromComment(c *comment) bool {
	return c.closed && len(c.words) > 0 && strings.EqualFold(c.words[0], "from")
}

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

// parseFrom reads the "from" clause whose items (up to the end of the
// host's text) are its.
func parseFrom(s string, cs comments, its []item, ours func(netip.Addr) bool) (received, error) {
	fail := func(err error) (received, error) { return received{hasFrom: true}, err }
	usual, uerr := usualReading(its)
	rs := readings(s, cs, its)

	// Every address the field could be read as recording that is not
	// ours; the one the host wrote is among them.
	var outside []netip.Addr
	found := false
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
	if uerr == nil {
		add(usual.ip)
	}
	for k := range its {
		if ip, ok := recorded(s, its, k); ok {
			add(ip)
		}
	}
	var skip commentSkipper
	for k := range cs {
		// Nested comments too: a TCP-info can sit inside client text.
		c := &cs[k]
		if c.start < its0(its, len(s)) || c.closed && (len(c.addresses()) == 0 || byClause(s, cs, &skip, c)) {
			continue
		}
		if !c.closed {
			// Client text that opened a comment can hold the host's own
			// words: any address among them counts.
			for _, w := range c.words {
				if ip, ok := wordIP(w); ok {
					add(ip)
				}
			}
			continue
		}
		for _, ip := range c.addresses() {
			add(ip)
		}
	}
	for _, r := range rs {
		add(r.ip)
	}

	switch {
	case !found && uerr != nil:
		return fail(uerr)
	case !found:
		return fail(errNoAddress)
	case len(outside) == 0 && uerr == nil:
		return received{hasFrom: true, trusted: true}, nil
	case len(outside) != 1 || outside[0].IsUnspecified():
		if uerr == nil {
			uerr = errAmbiguous
		}
		return fail(uerr)
	}
	f := received{hasFrom: true, ip: outside[0]}
	switch {
	case uerr == nil && usual.ip == f.ip:
		f.helo = usual.helo
	case len(rs) > 0 && allAt(rs, f.ip):
		f.helo = readingHELO(s, its, rs[0])
	default:
		if uerr == nil {
			uerr = errAmbiguous
		}
		return fail(uerr)
	}
	if len(its) > 0 {
		f.auth = authProtocol(s[its[0].start:])
	}
	return f, nil
}

// its0 returns where the items start, or def if there are none.
func its0(its []item, def int) int {
	if len(its) == 0 {
		return def
	}
	return its[0].start
}

// recorded returns the address its[k] records if it is an address of its
// own (a word, not a comment) that the host may have written: not the
// "by" host's own (see byHost), and not a HELO literal as the from-name
// that the host's TCP-info comment follows (Postfix's "from [192.168.1.2]
// (name [192.0.2.1])"). Nothing else is passed over: the client can write
// "by" or a comment before the host's address, but not after it.
func recorded(s string, its []item, k int) (netip.Addr, bool) {
	it := its[k]
	if it.c != nil || it.semi {
		return netip.Addr{}, false
	}
	ip, ok := wordIP(it.w)
	switch {
	case !ok, byHost(its, k):
		return netip.Addr{}, false
	case k == 0 && plainAddress(it.w) && len(its) > 1 && its[1].c != nil && its[1].c.tcpInfo():
		return netip.Addr{}, false
	}
	return ip, true
}

// byHost reports whether the word its[k] stands where the "by" clause
// names the receiving host ("by 192.0.2.1;", "by host [192.0.2.1] with"):
// right after "by" or "by name", and not followed, past comments, by a
// "by" of its own, as every client address a host writes as a word is.
func byHost(its []item, k int) bool {
	after := k > 0 && its[k-1].isWord("by") ||
		k > 1 && its[k-2].isWord("by") && its[k-1].c == nil && !its[k-1].semi
	if !after {
		return false
	}
	j := k + 1
	for j < len(its) && its[j].c != nil && its[j].c.closed {
		j++
	}
	return j >= len(its) || !its[j].isWord("by")
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

// usual is the field read as the receiving host writes it when the HELO
// name holds no parenthesis.
type usual struct {
	ip   netip.Addr
	helo string
}

// usualReading reads the "from" clause whose items are its the way the
// receiving hosts write it (see parseReceived): the from-name (the HELO
// name or the reverse DNS name), then comments and words up to "by", of
// which the first comment that records an address and is not the
// client's "(HELO name)" is the TCP-info; without one, the address is the
// last word of its own before "by", or the from-name itself.
func usualReading(its []item) (usual, error) {
	var u usual
	// The from-name runs to the first comment, or to a "by" that ends
	// the clause when there is no comment (Exim: "from [192.0.2.1] by").
	k := 0
	var name []string
	sawBy := false
	for ; k < len(its) && its[k].c == nil && !its[k].semi; k++ {
		if len(name) > 0 && its[k].isWord("by") {
			sawBy = true
			k++
			break
		}
		name = append(name, its[k].w)
	}

	var tcp *comment
	var tail []item // what follows the from-name up to "by"
	if sawBy {
		// After a "by", a comment is either the TCP-info that follows a
		// HELO with " by " in it (Postfix: "from a by b (unknown
		// [192.0.2.1]) by") or a comment of the "by" clause; only the
		// first kind records an address, and never before "with".
		for j := k; j < len(its) && !its[j].semi; j++ {
			if c := its[j].c; c != nil {
				if !c.closed {
					return u, errReceived
				}
				if c.address().IsValid() && !isAt(its, j+1, "with") {
					tcp = c
				}
				break
			}
		}
	} else {
		for ; k < len(its) && !its[k].semi && !its[k].isWord("by"); k++ {
			if its[k].c != nil && !its[k].c.closed {
				return u, errReceived
			}
			tail = append(tail, its[k])
		}
		for _, it := range tail {
			if c := it.c; c != nil && !c.isHELO() && c.address().IsValid() {
				tcp = c
				break
			}
		}
	}

	helo, heloSet := tailHELO(tail, tcp)
	switch {
	case tcp != nil:
		u.ip = tcp.address()
	case lastWordIP(tail) >= 0:
		p := lastWordIP(tail)
		u.ip, _ = wordIP(tail[p].w)
		if !heloSet {
			// Exim 3: "from name (helo) [192.0.2.1.1234]".
			for _, it := range tail[:p] {
				if c := it.c; c != nil && len(c.words) == 1 && !strings.ContainsAny(c.words[0], "=@[]") && !c.isHELO() {
					helo, heloSet = c.words[0], true
					break
				}
			}
		}
	case len(name) > 0:
		ip, ok := wordIP(name[len(name)-1])
		if !ok {
			return u, errNoAddress
		}
		u.ip = ip
		switch {
		case heloSet:
		case len(name) > 1:
			// "from name [192.0.2.1] by": the name before the address.
			helo, heloSet = knownHELO(strings.Join(name[:len(name)-1], " ")), true
		case !strings.HasPrefix(name[0], "["), !onlyKeyValues(tail):
			// A bare address, or a literal followed by comments of
			// another MTA than Exim ("from [192.0.2.1] (account
			// user)", CommuniGate Pro): the host's record of the
			// client, not a HELO name. Exim writes "from [192.0.2.1]"
			// alone, or with key=value items, for a client whose HELO
			// was that literal.
			heloSet = true
		}
	default:
		return u, errNoAddress
	}
	if u.ip.IsUnspecified() {
		return u, errNoAddress
	}
	if !heloSet {
		helo = knownHELO(strings.Join(name, " "))
	}
	u.helo = helo
	return u, nil
}

// isAt reports whether its[k] is the word w.
func isAt(its []item, k int, w string) bool { return k < len(its) && its[k].isWord(w) }

// tailHELO returns the HELO name that the items after the from-name
// record: Exim's helo= item of the TCP-info or of another comment, the
// text after "HELO", "EHLO" or "LHLO" in a comment, or the quoted string
// after "claiming to be".
func tailHELO(tail []item, tcp *comment) (string, bool) {
	if tcp != nil {
		if h, ok := tcp.value("helo"); ok {
			return h, true
		}
	}
	for _, it := range tail {
		if it.c == nil {
			continue
		}
		if h, ok := it.c.value("helo"); ok {
			return h, true
		}
		if h, ok := it.c.heloText(); ok {
			return h, true
		}
	}
	for k := 0; k+3 < len(tail); k++ {
		if tail[k].isWord("claiming") && tail[k+1].isWord("to") && tail[k+2].isWord("be") && tail[k+3].c == nil {
			return strings.Trim(tail[k+3].w, `"`), true
		}
	}
	return "", false
}

// onlyKeyValues reports whether the items are comments of key=value
// items only, as Exim writes them ("(port=1234 helo=name)").
func onlyKeyValues(its []item) bool {
	for _, it := range its {
		if it.c == nil {
			return false
		}
		for _, w := range it.c.words {
			if !strings.Contains(w, "=") {
				return false
			}
		}
	}
	return true
}

// lastWordIP returns the index of the last item of tail that is an
// address of its own, or -1.
func lastWordIP(tail []item) int {
	for k := len(tail) - 1; k >= 0; k-- {
		if tail[k].c == nil {
			if _, ok := wordIP(tail[k].w); ok {
				return k
			}
		}
	}
	return -1
}

// reading is a place in a "from" clause that has the shape of the
// client's address followed by the "by" clause (RFC 5321 §4.4:
// From-domain By-domain, comments allowed between them).
type reading struct {
	start int        // index in s
	ip    netip.Addr //
	c     *comment   // the comment that records ip; nil for a word of its own
	by    int        // index just past the "by" that follows, or -1 (';' or end)
}

// readings returns the places in the "from" clause, whose top-level items
// are its, that could be where the receiving host recorded the client: an
// address (a closed comment that records one, nested or not, other than
// "(HELO ...)", or a top-level word of its own), followed by comments that
// record none, then "by", ';' or the end. A HELO name, a recipient or a
// sender written by the client can add readings; the one the host wrote
// is always among them. A reading whose "by" is followed by one word and
// another such reading is dropped: a host writes its own name after "by"
// and never its client, so that "by" was the client's.
func readings(s string, cs comments, its []item) []reading {
	from := its0(its, len(s))
	var rs []reading
	for k, it := range its {
		if it.c != nil || it.semi || byHost(its, k) {
			continue
		}
		if ip, ok := wordIP(it.w); ok {
			if ok, by := cs.follows(s, it.end); ok {
				rs = append(rs, reading{start: it.start, ip: ip, by: by})
			}
		}
	}
	for k := range cs {
		c := &cs[k]
		if c.start < from || !c.closed || c.isHELO() {
			continue
		}
		ip := c.address()
		if !ip.IsValid() {
			continue
		}
		if ok, by := cs.follows(s, c.end); ok {
			rs = append(rs, reading{start: c.start, ip: ip, c: c, by: by})
		}
	}
	sort.Slice(rs, func(a, b int) bool { return rs[a].start < rs[b].start })
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
// that record no address, then "by", ';' or the end; by is the index just
// past that "by", or -1.
func (cs comments) follows(s string, i int) (ok bool, by int) {
	for {
		i = skipSpace(s, i)
		if i >= len(s) || s[i] == ';' {
			return true, -1
		}
		if s[i] == '(' {
			c := cs.at(i)
			if c == nil || !c.closed || c.address().IsValid() {
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

// readingHELO returns the HELO name for a reading: one the clause records
// (helo=, "(HELO name)", "claiming to be"), the address itself when it is
// the whole from-name (Exim), or all the text before the reading.
func readingHELO(s string, its []item, r reading) string {
	end := len(s)
	if r.by >= 0 {
		end = r.by
	}
	var clause []item
	for _, it := range its {
		if it.start < end {
			clause = append(clause, it)
		}
	}
	if h, ok := tailHELO(clause, r.c); ok {
		return h
	}
	from := its0(its, len(s))
	if r.c == nil && r.start == from {
		return its[0].w
	}
	return knownHELO(strings.Join(strings.Fields(s[from:r.start]), " "))
}

func knownHELO(h string) string {
	if strings.EqualFold(h, "unknown") {
		return ""
	}
	return h
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
