package header

import "strings"

// SkipCFWS returns s without its leading folding white space and comments
// (RFC 5322 §3.2.2). Comments nest and may hold quoted pairs; an
// unterminated one leaves nothing, since a reader cannot tell where it
// would have ended.
func SkipCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "(") {
			return s
		}
		n := CommentLen(s)
		if n < 0 {
			return ""
		}
		s = s[n:]
	}
}

// CommentLen returns the length of the comment that opens s, its
// parentheses included (RFC 5322 §3.2.2: comments nest and may hold
// quoted pairs), or -1 if s does not open with "(" or the comment is not
// closed.
func CommentLen(s string) int {
	if !strings.HasPrefix(s, "(") {
		return -1
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
