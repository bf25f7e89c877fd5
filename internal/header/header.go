// Package header reads the header section of a message (RFC 5322 §2.2) the
// way mail readers do, bounded, so that every package of mtaguard sees the
// same fields: the checks that read a message (dkim, dmarc, message), the
// border walk of relay and the removal of forged Authentication-Results.
//
// Lines end at CRLF, at a bare LF and at a bare CR. RFC 5322 allows only
// CRLF, but a reader that shows a message splits at the other two as well,
// so a check that joined what a reader splits would judge one field while
// the user reads another. Everything else that is not as RFC 5322 says is
// kept, and recorded in Section.Flaws for the callers that refuse it.
package header

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// The bounds of a header section. Real mail stays far below both; a larger
// section is an attack on the reader.
const (
	MaxSize   = 1 << 20 // bytes, the empty line that ends the section included
	MaxFields = 1000
)

// ErrTooLarge is returned for a header section of more than MaxSize bytes
// or MaxFields fields.
var ErrTooLarge = errors.New("header: header section too large")

// Flaw is a set of the structural faults found in a header section.
type Flaw uint16

// The faults Read records.
const (
	// LeadingContinuation: the section begins with a line that starts with
	// white space, which RFC 5322 §2.2.3 forbids. A server that prepends a
	// field to such a message has its field extended by the client's text.
	LeadingContinuation Flaw = 1 << iota
	// BareCR: a CR not followed by LF, a line end to mail readers.
	BareCR
	// BareLF: an LF not preceded by CR.
	BareLF
	// NoColon: a line that is neither a field nor a continuation.
	NoColon
	// BadName: a field name with a byte outside RFC 5322 ftext (printable
	// ASCII but ':'), or white space inside it.
	BadName
	// NUL: a NUL byte.
	NUL
	// LongLine: a line of more than 998 bytes (RFC 5322 §2.1.1).
	LongLine
	// EightBit: a byte above 127, legal only under SMTPUTF8 (RFC 6532).
	EightBit
	// NoEnd: the message ended before the empty line that ends the header
	// section (a header-only message).
	NoEnd
)

// Has reports whether f includes every fault of g.
func (f Flaw) Has(g Flaw) bool { return f&g == g }

// Field is one header field as it stands in the message.
type Field struct {
	// Name is the field name, without the colon and without the white
	// space RFC 5322 §4.5.3 (obs-optional) allows before it. It is "" for
	// a leading continuation line and for a line with no colon.
	Name string
	// Raw is the whole field as it stands: name, colon, value and the
	// folded lines, each with its line end.
	Raw []byte
	// Value is the text after the colon, unfolded (RFC 5322 §2.2.3): the
	// line ends are removed and the white space after them kept. For a
	// field without a name it is the whole unfolded text.
	Value string
}

// Is reports whether the field is named name, ignoring case.
func (f Field) Is(name string) bool { return f.Name != "" && strings.EqualFold(f.Name, name) }

// Section is a message's header section.
type Section struct {
	Fields []Field
	// Len is the number of bytes the section takes in the message, the
	// empty line that ends it included: the body starts at Len.
	Len   int
	Flaws Flaw
}

// Get returns the fields named name, ignoring case, in order.
func (s *Section) Get(name string) []Field {
	var fs []Field
	for _, f := range s.Fields {
		if f.Is(name) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Parse reads the header section at the start of msg; see Read.
func Parse(msg []byte) (*Section, error) {
	return parse(&sliceLines{b: msg})
}

// Read reads the header section of the message r delivers, up to and
// including the empty line that ends it. It reads at most MaxSize bytes of
// header and, beyond the section, at most what a bufio.Reader buffers, so
// it can be given a stream of a message of any size.
func Read(r io.Reader) (*Section, error) {
	if br, ok := r.(*bufio.Reader); ok {
		return parse(&readerLines{br: br})
	}
	return parse(&readerLines{br: bufio.NewReader(r)})
}

// lineSource yields lines with their line ends. next returns io.EOF with no
// line at the end of the input, and ErrTooLarge for a line that would take
// the section past MaxSize.
type lineSource interface {
	next(budget int) ([]byte, error)
}

func parse(src lineSource) (*Section, error) {
	s := &Section{}
	var (
		cur   *Field
		value []byte // cur's unfolded value, built up line by line
	)
	flush := func() {
		if cur != nil {
			cur.Value = string(value)
			s.Fields = append(s.Fields, *cur)
			cur = nil
		}
	}
	for {
		line, err := src.next(MaxSize - s.Len)
		if err == io.EOF {
			s.Flaws |= NoEnd
			break
		}
		if err != nil {
			return nil, err
		}
		s.Len += len(line)
		s.Flaws |= lineFlaws(line)
		content := trimEnd(line)
		if len(content) == 0 {
			break // the empty line that ends the section
		}
		if content[0] == ' ' || content[0] == '\t' {
			if cur == nil { // the first line: nothing to continue
				s.Flaws |= LeadingContinuation
				cur, value = &Field{}, value[:0]
			}
			cur.Raw = append(cur.Raw, line...)
			value = append(value, content...)
			continue
		}
		flush()
		if len(s.Fields) >= MaxFields {
			return nil, ErrTooLarge
		}
		cur = &Field{Raw: append([]byte(nil), line...)}
		value = value[:0]
		if name, v, ok := bytes.Cut(content, []byte(":")); ok {
			cur.Name = string(bytes.TrimRight(name, " \t"))
			value = append(value, v...)
			if !validName(cur.Name) {
				s.Flaws |= BadName
			}
		} else {
			s.Flaws |= NoColon
			value = append(value, content...)
		}
	}
	flush()
	return s, nil
}

// validName reports whether name is an RFC 5322 §3.6.8 field-name.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// lineFlaws are the faults of one line, its end included.
func lineFlaws(line []byte) Flaw {
	var f Flaw
	content := trimEnd(line)
	if len(content) > 998 {
		f |= LongLine
	}
	switch end := line[len(content):]; string(end) {
	case "\r":
		f |= BareCR
	case "\n":
		f |= BareLF
	}
	for _, c := range content {
		switch {
		case c == 0:
			f |= NUL
		case c > 127:
			f |= EightBit
		}
	}
	return f
}

// trimEnd returns line without its line end (CRLF, LF or CR).
func trimEnd(line []byte) []byte {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return line[:n]
}

// lineLen returns the length of the first line of b with its end: up to
// and including the first LF, or a CR not followed by LF. A CR at the very
// end of b is a line end only if atEOF, since an LF may follow.
func lineLen(b []byte, atEOF bool) (int, bool) {
	for i, c := range b {
		switch c {
		case '\n':
			return i + 1, true
		case '\r':
			if i+1 < len(b) {
				if b[i+1] == '\n' {
					return i + 2, true
				}
				return i + 1, true
			}
			if atEOF {
				return i + 1, true
			}
			return 0, false
		}
	}
	if atEOF && len(b) > 0 {
		return len(b), true
	}
	return 0, false
}

// sliceLines yields the lines of a byte slice.
type sliceLines struct{ b []byte }

func (s *sliceLines) next(budget int) ([]byte, error) {
	if len(s.b) == 0 {
		return nil, io.EOF
	}
	n, _ := lineLen(s.b, true)
	if n > budget {
		return nil, ErrTooLarge
	}
	line := s.b[:n]
	s.b = s.b[n:]
	return line, nil
}

// readerLines yields the lines of a bufio.Reader, reading nothing past
// the line it returns.
type readerLines struct {
	br  *bufio.Reader
	buf []byte
}

func (r *readerLines) next(budget int) ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		if n := len(r.buf); n > 0 && r.buf[n-1] == '\r' {
			// The previous chunk ended in a CR: a line end, with the
			// LF of a CRLF if one follows.
			c, err := r.br.Peek(1)
			switch {
			case err == nil && c[0] == '\n':
				if n+1 > budget {
					return nil, ErrTooLarge
				}
				r.buf = append(r.buf, '\n')
				_, _ = r.br.Discard(1)
			case err != nil && err != io.EOF:
				return nil, err
			}
			return r.buf, nil
		}
		if _, err := r.br.Peek(1); err != nil {
			if err == io.EOF && len(r.buf) > 0 {
				return r.buf, nil
			}
			return nil, err
		}
		avail, _ := r.br.Peek(r.br.Buffered())
		n, ok := lineLen(avail, false)
		if !ok {
			n = len(avail)
		}
		if len(r.buf)+n > budget {
			return nil, ErrTooLarge
		}
		r.buf = append(r.buf, avail[:n]...)
		_, _ = r.br.Discard(n)
		if ok {
			return r.buf, nil
		}
	}
}
