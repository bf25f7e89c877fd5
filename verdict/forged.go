package verdict

import (
	"bytes"
	"strings"
)

// RemoveAuthenticationResults returns msg without the
// Authentication-Results header fields whose authserv-id is id: RFC 8601
// §5 has a border MTA delete such fields arriving from outside, since only
// we may speak for our authserv-id and a forged "spf=pass" would otherwise
// be trusted by the filters behind us. Fields for other authserv-ids, the
// rest of the header and the body are left byte for byte as they were. An
// SMTP server calls it on an accepted message before adding its own field.
func RemoveAuthenticationResults(msg []byte, id string) []byte {
	out := make([]byte, 0, len(msg))
	rest := msg
	for len(rest) > 0 {
		// A field is its first line and the folded lines after it.
		end := lineEnd(rest)
		if end == 2 && rest[0] == '\r' || end == 1 {
			break // the empty line that ends the header section
		}
		for end < len(rest) && (rest[end] == ' ' || rest[end] == '\t') {
			end += lineEnd(rest[end:])
		}
		field := rest[:end]
		rest = rest[end:]
		name, value, ok := bytes.Cut(field, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimRight(name, " \t")), "Authentication-Results") &&
			ClaimsAuthservID(string(value), id) {
			continue
		}
		out = append(out, field...)
	}
	return append(out, rest...)
}

// lineEnd returns the length of the first line of b with its LF, or len(b).
func lineEnd(b []byte) int {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i + 1
	}
	return len(b)
}

// ClaimsAuthservID reports whether an Authentication-Results field value
// names id as its authserv-id (RFC 8601 §2.2: [CFWS] authserv-id, where
// authserv-id is a token or quoted-string), ignoring case and a trailing
// dot as DNS names do.
func ClaimsAuthservID(value, id string) bool {
	v := skipCFWS(value)
	var got string
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '\\':
				if i++; i < len(v) {
					b.WriteByte(v[i])
				}
			case '"':
				got = b.String()
				i = len(v)
			case '\r', '\n':
			default:
				b.WriteByte(c)
			}
		}
	} else {
		end := strings.IndexAny(v, " \t\r\n;(")
		if end < 0 {
			end = len(v)
		}
		got = v[:end]
	}
	norm := func(s string) string { return strings.TrimSuffix(strings.TrimSpace(s), ".") }
	return got != "" && norm(id) != "" && strings.EqualFold(norm(got), norm(id))
}

// skipCFWS removes leading folding white space and comments (RFC 5322
// §3.2.2), which nest and may contain quoted pairs. An unterminated
// comment leaves nothing.
func skipCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "(") {
			return s
		}
		depth := 0
		i := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i >= len(s) {
			return ""
		}
		s = s[i+1:]
	}
}
