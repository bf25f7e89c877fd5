package dmarc

import (
	"errors"
	"strings"

	"github.com/mtaguard/mtaguard/internal/header"
)

// mailbox is one address of a From field: its domain as written (a
// domain literal has literal set).
type mailbox struct {
	domain  string
	literal bool
}

// token kinds of a field value; specials are their own byte.
const (
	tAtom    = 'a' // atext run, 8-bit bytes included (RFC 6532; Latin-1 display names)
	tQuoted  = 'q' // quoted string
	tLiteral = 'l' // domain literal
)

type token struct {
	kind byte
	text string
}

var errAddress = errors.New("not an RFC 5322 address list")

// tokenize splits a field value into RFC 5322 lexical tokens, dropping
// CFWS (comments may nest and hold quoted-pairs, §3.2.2). An unclosed
// quoted string, comment or domain literal, a stray ')' or ']', or a
// control character is an error.
func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			n := header.CommentLen(s[i:])
			if n < 0 {
				return nil, errAddress
			}
			i += n
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, errAddress
			}
			toks = append(toks, token{tQuoted, s[i+1 : j]})
			i = j + 1
		case c == '[':
			j := strings.IndexAny(s[i+1:], "[]\\")
			if j < 0 || s[i+1+j] != ']' {
				return nil, errAddress
			}
			toks = append(toks, token{tLiteral, s[i : i+j+2]})
			i += j + 2
		case strings.IndexByte("<>@,;:.", c) >= 0:
			toks = append(toks, token{c, ""})
			i++
		case c < ' ' || c == 0x7f || strings.IndexByte(`)]\"`, c) >= 0:
			return nil, errAddress
		default:
			j := i
			for j < len(s) && isAtext(s[j]) {
				j++
			}
			toks = append(toks, token{tAtom, s[i:j]})
			i = j
		}
	}
	return toks, nil
}

// isAtext reports whether c may be part of an atom: printable ASCII other
// than specials and space, or an 8-bit byte.
func isAtext(c byte) bool {
	return c > ' ' && c != 0x7f && strings.IndexByte(`()<>[]:;@\,."`, c) < 0
}

// parser reads an address list from tokens.
type parser struct {
	t []token
	i int
}

func (p *parser) peek() byte {
	if p.i < len(p.t) {
		return p.t[p.i].kind
	}
	return 0
}

func (p *parser) next() token {
	t := p.t[p.i]
	p.i++
	return t
}

// parseAddressList parses a From field value as an RFC 5322 address list
// (§3.4 mailbox-list, groups as in address-list, and the obsolete syntax
// of §4.4: empty list elements, obs-phrase, obs-route, obs-local-part,
// obs-domain). It returns the addresses, those of groups included.
func parseAddressList(v string) ([]mailbox, error) {
	toks, err := tokenize(v)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errAddress
	}
	p := &parser{t: toks}
	var out []mailbox
	for p.peek() != 0 {
		if p.peek() == ',' {
			p.i++
			continue
		}
		addrs, err := p.address()
		if err != nil {
			return nil, err
		}
		out = append(out, addrs...)
		if k := p.peek(); k != 0 && k != ',' {
			return nil, errAddress
		}
	}
	return out, nil
}

// phrase skips a display name (words, and the dots obs-phrase allows after
// the first word) and returns how many words it had.
func (p *parser) phrase() int {
	n := 0
	for {
		switch k := p.peek(); {
		case k == tAtom || k == tQuoted:
			n++
		case k == '.' && n > 0:
		default:
			return n
		}
		p.i++
	}
}

// address parses a mailbox or a group.
func (p *parser) address() ([]mailbox, error) {
	start := p.i
	if p.phrase() > 0 && p.peek() == ':' {
		p.i++
		var out []mailbox
		for {
			switch p.peek() {
			case ';':
				p.i++
				return out, nil
			case ',':
				p.i++
				continue
			case 0:
				return nil, errAddress
			}
			a, err := p.mailbox()
			if err != nil {
				return nil, err
			}
			out = append(out, a)
			if k := p.peek(); k != ',' && k != ';' {
				return nil, errAddress
			}
		}
	}
	p.i = start
	a, err := p.mailbox()
	if err != nil {
		return nil, err
	}
	return []mailbox{a}, nil
}

// mailbox parses name-addr or addr-spec.
func (p *parser) mailbox() (mailbox, error) {
	start := p.i
	p.phrase()
	if p.peek() != '<' {
		p.i = start
		return p.addrSpec()
	}
	p.i++
	if p.peek() == '@' { // obs-route: "@a.example,@b.example:"
		for p.peek() == '@' || p.peek() == ',' {
			if p.next().kind == '@' {
				if _, err := p.domain(); err != nil {
					return mailbox{}, err
				}
			}
		}
		if p.peek() != ':' {
			return mailbox{}, errAddress
		}
		p.i++
	}
	a, err := p.addrSpec()
	if err != nil {
		return mailbox{}, err
	}
	if p.peek() != '>' {
		return mailbox{}, errAddress
	}
	p.i++
	return a, nil
}

// addrSpec parses local-part "@" domain.
func (p *parser) addrSpec() (mailbox, error) {
	for n := 0; ; n++ { // local-part: word *("." word)
		if k := p.peek(); k != tAtom && k != tQuoted {
			return mailbox{}, errAddress
		}
		p.i++
		if p.peek() != '.' {
			break
		}
		p.i++
	}
	if p.peek() != '@' {
		return mailbox{}, errAddress
	}
	p.i++
	return p.domain()
}

// domain parses a domain literal or atom *("." atom).
func (p *parser) domain() (mailbox, error) {
	if p.peek() == tLiteral {
		return mailbox{domain: p.next().text, literal: true}, nil
	}
	var labels []string
	for {
		if p.peek() != tAtom {
			return mailbox{}, errAddress
		}
		labels = append(labels, p.next().text)
		if p.peek() != '.' {
			break
		}
		p.i++
	}
	return mailbox{domain: strings.Join(labels, ".")}, nil
}
