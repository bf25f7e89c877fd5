package dkim

import (
	"bufio"
	"bytes"
	"errors"
	"strings"

	"github.com/mtaguard/mtaguard/internal/header"
)

// Errors of readHeader.
var (
	errHeaderTooLarge = errors.New("header section too large")
	errBareCR         = errors.New("header section has a bare CR")
)

// readHeader reads the header section of a message from br with package
// header, at most max bytes of it, and returns the bytes go-msgauth is to
// verify as the header section and the DKIM-Signature fields in them, in
// order from the top. Bytes after the section stay in br.
//
// The bytes are the fields as they stand, followed by an empty line (one
// is added to a header-only message, and a line end to its last line, as
// go-msgauth insists on them). go-msgauth splits lines at LF only, mail
// readers and package header at a bare CR too: a section with a bare CR
// would be verified as fields other than the ones a reader shows, so it
// is refused (errBareCR), before anything is verified. Everything else is
// split the same way by both, so the signatures found here are the ones
// go-msgauth verifies.
func readHeader(br *bufio.Reader, max int) ([]byte, []signature, error) {
	sec, err := header.Read(br)
	switch {
	case err == header.ErrTooLarge:
		return nil, nil, errHeaderTooLarge
	case err != nil:
		return nil, nil, err
	case sec.Len > max:
		return nil, nil, errHeaderTooLarge
	case sec.Flaws.Has(header.BareCR):
		return nil, nil, errBareCR
	}
	n := 4
	for _, f := range sec.Fields {
		n += len(f.Raw)
	}
	h := make([]byte, 0, n)
	for _, f := range sec.Fields {
		h = append(h, f.Raw...)
	}
	if len(h) > 0 && h[len(h)-1] != '\n' {
		h = append(h, "\r\n"...)
	}
	return append(h, "\r\n"...), signatures(sec), nil
}

// signature is what mtaguard reads itself from a DKIM-Signature field
// (RFC 6376 §3.5): go-msgauth's Verification leaves out the selector and
// the algorithm, which reasons and Authentication-Results need.
type signature struct {
	domain     string // d=, lower-cased
	selector   string // s=
	identifier string // i=
	algorithm  string // a=
	bodyLength bool   // l= is present
}

// signatures returns the DKIM-Signature fields of a header section, in
// order from the top. A field's name is read as go-msgauth reads it: the
// text before the first colon, white space around it removed, so that a
// field package header leaves without a name (a first line that starts
// with white space, a first line without a colon) counts when go-msgauth
// counts it.
func signatures(sec *header.Section) []signature {
	var sigs []signature
	for _, f := range sec.Fields {
		name, value, _ := bytes.Cut(f.Raw, []byte(":"))
		if !strings.EqualFold(string(bytes.TrimSpace(name)), "DKIM-Signature") {
			continue
		}
		// A tag list that does not parse still yields the tags before
		// the error; go-msgauth reports the error itself.
		tags, _ := parseTags(string(value))
		sigs = append(sigs, signature{
			domain:     strings.ToLower(tags["d"]),
			selector:   tags["s"],
			identifier: tags["i"],
			algorithm:  strings.ToLower(tags["a"]),
			bodyLength: hasTag(tags, "l"),
		})
	}
	return sigs
}

func hasTag(tags map[string]string, name string) bool {
	_, ok := tags[name]
	return ok
}

// Errors of parseTags.
var (
	errTagSyntax    = errors.New("malformed tag list")
	errTagDuplicate = errors.New("duplicate tag")
)

// parseTags parses a DKIM tag list (RFC 6376 §3.2): "tag=value" pairs
// separated by semicolons, with folding white space around the parts.
// Values come back with all white space removed, which is right for every
// tag read here (d=, s=, i=, a=, l=; RFC 6376 §3.5 allows FWS inside them
// only where it carries no meaning). On a syntax error it returns the tags
// read so far and the error, so that a reason can still name d= and s=.
func parseTags(s string) (map[string]string, error) {
	tags := make(map[string]string)
	for part := range strings.SplitSeq(s, ";") {
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok {
			if name == "" {
				continue // an empty part: "a=b;" or ";;"
			}
			return tags, errTagSyntax
		}
		if name == "" || !isTagName(name) {
			return tags, errTagSyntax
		}
		if _, dup := tags[name]; dup {
			return tags, errTagDuplicate
		}
		tags[name] = stripSpace(value)
	}
	return tags, nil
}

// isTagName reports whether s is a tag-name: ALPHA *ALNUMPUNC (RFC 6376
// §3.2).
func isTagName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return true
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
