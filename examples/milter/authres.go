package main

import "strings"

// This file is the same as examples/smtpd's claimsAuthservID: each example
// is a main package of its own and the two are kept self-contained.

// claimsAuthservID reports whether an Authentication-Results field value
// names id as its authserv-id (RFC 8601 §2.2: [CFWS] authserv-id, where
// authserv-id is a token or quoted-string), ignoring case and a trailing
// dot as DNS names do.
func claimsAuthservID(value, id string) bool {
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
