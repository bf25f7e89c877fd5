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
