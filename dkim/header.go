package dkim

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// errHeaderTooLarge is returned by readHeader when the header section is
// longer than the limit.
var errHeaderTooLarge = errors.New("header section too large")

// readHeader reads the header section of a message (RFC 5322 §2.1) from br,
// up to and including the empty line that ends it, reading at most max bytes.
// A message that ends without the empty line (a header-only message) gets
// one added, so that go-msgauth, which insists on it, can still read it.
// Bytes after the empty line stay in br.
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	var h []byte
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if lineStart && (string(chunk) == "\r\n" || string(chunk) == "\n") {
			return append(h, chunk...), nil
		}
		if len(h)+len(chunk) > max {
			return nil, errHeaderTooLarge
		}
		h = append(h, chunk...)
		switch err {
		case nil:
			lineStart = true
		case bufio.ErrBufferFull:
			lineStart = false
		case io.EOF:
			if len(h) > 0 && h[len(h)-1] != '\n' {
				h = append(h, "\r\n"...)
			}
			return append(h, "\r\n"...), nil
		default:
			return nil, err
		}
	}
}

// fields splits a header section into its fields, unfolded lines kept as
// they are, the way go-msgauth does (a line starting with a space or a tab
// continues the field before it), so that the signatures found here are
// the ones go-msgauth verifies, in the same order.
func fields(h []byte) []string {
	var fs []string
	for len(h) > 0 {
		i := bytes.IndexByte(h, '\n')
		line := h[:i+1]
		h = h[i+1:]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line that ends the section
		}
		if len(fs) > 0 && (line[0] == ' ' || line[0] == '\t') {
			fs[len(fs)-1] += string(line)
		} else {
			fs = append(fs, string(line))
		}
	}
	return fs
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
// order from the top.
func signatures(h []byte) []signature {
	var sigs []signature
	for _, f := range fields(h) {
		name, value, ok := strings.Cut(f, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature") {
			continue
		}
		// A tag list that does not parse still yields the tags before
		// the error; go-msgauth reports the error itself.
		tags, _ := parseTags(value)
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
