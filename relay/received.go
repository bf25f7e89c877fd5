package relay

import (
	"errors"
	"net/mail"
	"net/netip"
	"strings"
)

// This file interprets Received: fields (RFC 5321 §4.4, RFC 5322 §3.6.7)
// for Border: comment.go splits them into words and comments, tcpinfo.go
// reads the forms of an address, reading.go the ways to read a clause.

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
