package relay

import (
	"net/netip"
	"sort"
	"strings"
)

// This file reads a "from" clause in the ways parseReceived weighs: the
// usual reading, as hosts write it for a benign HELO name, and the
// readings in RFC 5321's shape "address [comments] by".

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
