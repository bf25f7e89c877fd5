package spf

import (
	"context"
	"strings"

	"github.com/mtaguard/mtaguard/verdict"
)

// explain returns the explanation of a fail (RFC 7208 §6.2): the TXT
// record named by the exp= modifier of the record that decided the
// result, macro-expanded, and reduced to one printable line. It returns
// "" when there is none, and whenever anything about it goes wrong (a
// DNS error, no record or several, a syntax error): the explanation never
// changes the result. The SPF library ignores exp=, so this is done here,
// after the evaluation, from the records the library fetched through a.
func explain(ctx context.Context, a *libResolver) string {
	i := a.decider()
	if i < 0 || a.fetched[i].rec.exp == "" {
		return ""
	}
	env := a.env
	env.domain = a.fetched[i].name
	env.validated = a.choose(env.domain)
	name, err := env.expand(a.fetched[i].rec.exp, false)
	if err != nil {
		return ""
	}
	// §4.6.4 does not count this lookup against the limit of ten, and
	// §7.3 has a name longer than 253 octets lose labels on the left.
	name = truncateName(name)
	if name == "" {
		return ""
	}
	txts, err := a.txt(ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	if hasP(txts[0]) {
		a.lookupValidated(ctx)
		env.validated = a.choose(env.domain)
	}
	text, err := env.expand(txts[0], true)
	if err != nil {
		return ""
	}
	// Expanded macros hold client input (%{s}, %{h}): keep the result
	// to one bounded printable line.
	return strings.TrimSpace(verdict.Printable(text))
}

// decider returns the index in a.fetched of the record whose terms gave the
// result of the top-level check_host(), or -1. Mechanisms in an included
// record never decide (include can only match, and the qualifier is the
// including record's), but a redirect= hands the whole evaluation to the
// record it names (§6.1), whose exp= then applies instead (§6.2).
//
// The library fetches records depth first, in the order the RFC
// evaluates terms: the record, then for each include it reaches the
// included record and what that one fetches, then the redirect target,
// last. So the records fetched by the evaluation of a record follow it,
// and whether it went on to its redirect shows in whether the next record
// fetched after its includes' is the redirect's target.
func (a *libResolver) decider() int {
	if len(a.fetched) == 0 {
		return -1
	}
	_, d := a.walk(0, 0)
	return d
}

// walk follows the evaluation of a.fetched[i]. It returns the index after
// the last record that evaluation fetched, and the index of the record
// that decided it.
func (a *libResolver) walk(i, depth int) (next, decided int) {
	// The library stops at ten lookups; more nesting than that is no
	// evaluation the library made.
	fs := a.fetched
	if depth > 20 {
		return len(fs), -1
	}
	env := a.env
	env.domain = fs[i].name
	env.validated = a.choose(env.domain)
	next = i + 1
	for _, inc := range fs[i].rec.includes {
		target, err := env.expand(inc, false)
		if err != nil || next >= len(fs) || !sameName(fs[next].name, target) {
			// The evaluation of fs[i] did not reach this include: a
			// mechanism before it matched.
			return next, i
		}
		next, _ = a.walk(next, depth+1)
	}
	if fs[i].rec.redirect != "" && next < len(fs) {
		target, err := env.expand(fs[i].rec.redirect, false)
		if err == nil && sameName(fs[next].name, target) {
			return a.walk(next, depth+1)
		}
	}
	return next, i
}

// sameName compares two domain names as DNS does: ASCII letters without
// regard to case, and a trailing dot or not.
func sameName(a, b string) bool {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
