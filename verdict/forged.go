package verdict

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtaguard/mtaguard/internal/header"
)

// RemoveAuthenticationResults returns msg without the
// Authentication-Results header fields whose authserv-id is id: RFC 8601
// §5 has a border MTA delete such fields arriving from outside, since only
// we may speak for our authserv-id and a forged "spf=pass" would otherwise
// be trusted by the filters behind us. Fields for other authserv-ids, the
// rest of the header and the body are left byte for byte as they were. An
// SMTP server calls it on an accepted message before adding its own field.
//
// The header section is read as mail readers read it: a bare CR and a bare
// LF end a line as CRLF does, so a field hidden behind a bare CR is a field
// (ClaimsAuthservID says which fields claim id). A first line that starts
// with white space, which RFC 5322 §2.2.3 forbids, is removed too: it
// would continue whatever field a server puts on top of the message,
// making the server's own field say what the client wrote.
//
// A header section larger than readers are expected to take (1 MiB, 1000
// fields) is read line by line with the same rules.
func RemoveAuthenticationResults(msg []byte, id string) []byte {
	sec, err := header.Parse(msg)
	if err != nil {
		return removeLarge(msg, id)
	}
	out := make([]byte, 0, len(msg))
	n := 0
	for i, f := range sec.Fields {
		n += len(f.Raw)
		if i == 0 && sec.Flaws&header.LeadingContinuation != 0 ||
			f.Is("Authentication-Results") && ClaimsAuthservID(f.Value, id) {
			continue
		}
		out = append(out, f.Raw...)
	}
	return append(out, msg[n:]...)
}

// removeLarge is RemoveAuthenticationResults for a header section over
// internal/header's bounds, which no server should accept but which must
// not keep a forged field either: the same splitting, one field at a time.
func removeLarge(msg []byte, id string) []byte {
	out := make([]byte, 0, len(msg))
	rest := msg
	for first := true; len(rest) > 0; first = false {
		end := lineLen(rest)
		if isLineEnd(rest[:end]) {
			break // the empty line that ends the header section
		}
		cont := rest[0] == ' ' || rest[0] == '\t'
		for end < len(rest) && (rest[end] == ' ' || rest[end] == '\t') {
			end += lineLen(rest[end:])
		}
		field := rest[:end]
		rest = rest[end:]
		if first && cont {
			continue
		}
		name, value, ok := strings.Cut(string(field), ":")
		if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "Authentication-Results") && ClaimsAuthservID(value, id) {
			continue
		}
		out = append(out, field...)
	}
	return append(out, rest...)
}

// lineLen returns the length of the first line of b with its line end:
// CRLF, a bare LF or a bare CR, as internal/header splits.
func lineLen(b []byte) int {
	for i, c := range b {
		switch c {
		case '\n':
			return i + 1
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return i + 2
			}
			return i + 1
		}
	}
	return len(b)
}

func isLineEnd(line []byte) bool {
	s := string(line)
	return s == "\r\n" || s == "\n" || s == "\r"
}

// ClaimsAuthservID reports whether an Authentication-Results field value
// names id as its authserv-id (RFC 8601 §2.2: [CFWS] authserv-id, where
// authserv-id is a token or quoted-string), ignoring case and a trailing
// dot as DNS names do.
//
// It reads the value the way the most lenient reader would, so that no
// reader takes for ours a field it does not report: go-msgauth's parser,
// for one, trims and splits at any Unicode white space, so the id may be
// preceded or followed by a vertical tab, a form feed or a no-break space
// and still be ours. Before the id, white space of any kind, control and
// format characters (a zero-width space), bytes that are not UTF-8 (a
// Latin-1 no-break space) and comments are skipped; the id ends at the
// first character that cannot continue a domain name. Such a value claims
// id even where RFC 8601 would read another authserv-id or none.
func ClaimsAuthservID(value, id string) bool {
	want := normID(id)
	if want == "" {
		return false
	}
	v := skipFill(value)
	if strings.HasPrefix(v, `"`) {
		v = unquote(v[1:])
	}
	got := skipFill(v)
	got = got[:tokenLen(got, want)]
	return strings.EqualFold(normID(got), want)
}

// normID trims white space and trailing dots from an authserv-id.
func normID(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), ".")
}

// skipFill skips what may come before an authserv-id without being part
// of it: CFWS (RFC 5322 §3.2.2), and any character a reader may take for
// white space or not show.
func skipFill(s string) string {
	for {
		s = strings.TrimLeftFunc(s, isFill)
		if !strings.HasPrefix(s, "(") {
			return s
		}
		s = header.SkipCFWS(s)
	}
}

// isFill reports whether r is white space, a control or format character,
// or stands for a byte that is not UTF-8 (utf8.RuneError).
func isFill(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// tokenLen returns the length of the domain-name-like token at the start
// of s: letters, digits, marks, '-', '.', '_', and whatever else the
// expected id holds.
func tokenLen(s, want string) int {
	for i, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) &&
			!strings.ContainsRune("-._", r) && (r == utf8.RuneError || !strings.ContainsRune(want, r)) {
			return i
		}
	}
	return len(s)
}

// unquote returns the content of the quoted-string whose opening quote
// came just before s, quoted pairs resolved and folding removed.
func unquote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i++; i < len(s) {
				b.WriteByte(s[i])
			}
		case '"':
			return b.String()
		case '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
