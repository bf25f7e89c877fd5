package relay

import (
	"sort"
	"strings"
)

// This file is the lexer of Received: fields: their comments, words and
// semicolons. received.go interprets them.

// comment is a parenthesised comment of a Received field.
type comment struct {
	start  int      // index of its '('
	end    int      // index just past its ')', or len(s)
	closed bool     // its closing parenthesis was found
	words  []string // its words outside nested comments
}

// comments are the comments of a field, nested ones included, in the
// order they open.
type comments []comment

// scanComments finds every comment of s in one pass. Inside a comment a
// backslash quotes the next character (RFC 5322 §3.2.1); outside, the
// characters are words and a ')' is a character like any other.
func scanComments(s string) comments {
	var cs comments
	var open []int // cs indexes of the comments open at j, innermost last
	start := -1    // start of the word being read in the innermost one
	flush := func(j int) {
		if start >= 0 {
			c := &cs[open[len(open)-1]]
			c.words = append(c.words, s[start:j])
			start = -1
		}
	}
	for j := 0; j < len(s); j++ {
		switch ch := s[j]; {
		case ch == '(':
			flush(j)
			cs = append(cs, comment{start: j})
			open = append(open, len(cs)-1)
		case len(open) == 0:
		case ch == ')':
			flush(j)
			c := &cs[open[len(open)-1]]
			c.end, c.closed = j+1, true
			open = open[:len(open)-1]
		case isSpace(ch):
			flush(j)
		default:
			if start < 0 {
				start = j
			}
			if ch == '\\' && j+1 < len(s) {
				j++
			}
		}
	}
	if len(open) > 0 {
		flush(len(s))
	}
	for _, k := range open {
		cs[k].end = len(s)
	}
	return cs
}

// at returns the comment that opens at s[i], or nil.
func (cs comments) at(i int) *comment {
	k := sort.Search(len(cs), func(k int) bool { return cs[k].start >= i })
	if k < len(cs) && cs[k].start == i {
		return &cs[k]
	}
	return nil
}

// item is one top-level element of a field: a word, a comment or a ';'.
type item struct {
	start, end int
	w          string   // the word; "" for a comment or a ';'
	c          *comment // the comment, or nil
	semi       bool     // a ';'
}

// isWord reports whether the item is the word w, ignoring case.
func (it item) isWord(w string) bool { return it.c == nil && !it.semi && strings.EqualFold(it.w, w) }

// items returns the top-level elements of s from s[i] on. A comment that
// is not closed runs to the end of s, so it is the last item.
func (cs comments) items(s string, i int) []item {
	var its []item
	for {
		i = skipSpace(s, i)
		if i >= len(s) {
			return its
		}
		switch s[i] {
		case '(':
			c := cs.at(i)
			its = append(its, item{start: i, end: c.end, c: c})
			i = c.end
		case ';':
			its = append(its, item{start: i, end: i + 1, semi: true})
			i++
		default:
			w, j := word(s, i)
			its = append(its, item{start: i, end: j, w: w})
			i = j
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// word returns the run of s from i up to white space, '(' or ';'.
func word(s string, i int) (string, int) {
	j := i
	for j < len(s) {
		switch s[j] {
		case ' ', '\t', '\r', '\n', '(', ';':
			return s[i:j], j
		}
		j++
	}
	return s[i:j], j
}
