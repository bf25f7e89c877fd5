package gosmtp

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/mtaguard/mtaguard/verdict"
)

// stamped returns the message, whose header section is its first end
// bytes, as the wrapped session reads it: our
// Authentication-Results field (RFC 8601) and, for junk, X-Spam-Flag and
// X-Spam-Status on top, and every Authentication-Results field of the
// message that claims our authserv-id removed (RFC 8601 §5).
//
// A field ends where the next line does not begin with white space (RFC
// 5322 §2.2.3), so a message whose first line begins with white space
// would extend the last field we write: a client could append "dkim=pass"
// to our own Authentication-Results. Data refuses such a message (550
// 5.6.0) before it gets here, and fields guards against it once more.
func stamped(msg []byte, end int, d verdict.Decision, authservID string, junk bool) io.Reader {
	header := verdict.RemoveAuthenticationResults(msg[:end], authservID)
	return &segments{fields(msg, d, authservID, junk), header, msg[end:]}
}

// segments reads its byte slices one after the other; unlike
// io.MultiReader it copies to a writer without a buffer of its own.
type segments [][]byte

func (s *segments) Read(p []byte) (int, error) {
	for len(*s) > 0 && len((*s)[0]) == 0 {
		*s = (*s)[1:]
	}
	if len(*s) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*s)[0])
	(*s)[0] = (*s)[0][n:]
	return n, nil
}

func (s *segments) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(*s) > 0 {
		n, err := w.Write((*s)[0])
		total += int64(n)
		(*s)[0] = (*s)[0][n:]
		if err != nil {
			return total, err
		}
		*s = (*s)[1:]
	}
	return total, nil
}

// fields returns our header fields for a message. If msg begins with white
// space (which read refuses), the fields end with a harmless field of
// their own, so that the continuation joins it rather than one of ours.
func fields(msg []byte, d verdict.Decision, authservID string, junk bool) []byte {
	var h bytes.Buffer
	h.WriteString(fold("Authentication-Results: " + d.AuthenticationResults(authservID)))
	if junk {
		h.WriteString("X-Spam-Flag: YES\r\n")
		h.WriteString(fold(fmt.Sprintf("X-Spam-Status: Yes, score=%.1f; %s", d.Score, verdict.Printable(d.Message))))
	}
	if len(msg) > 0 && (msg[0] == ' ' || msg[0] == '\t') {
		h.WriteString("X-Continuation-Guard: the next line began with white space\r\n")
	}
	return h.Bytes()
}

// fold breaks a header field after its "; " separators so that lines stay
// near 78 characters (RFC 5322 §2.1.1), and ends it with CRLF.
func fold(field string) string {
	parts := strings.Split(field, "; ")
	var b strings.Builder
	n := 0
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case i == 0:
		case n+2+len(p) > 78:
			b.WriteString(";\r\n\t")
			n = 8
		default:
			b.WriteString("; ")
			n += 2
		}
		b.WriteString(p)
		n += len(p)
	}
	b.WriteString("\r\n")
	return b.String()
}
