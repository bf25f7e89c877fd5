package verdict

import (
	"context"

	"github.com/emersion/go-msgauth/authres"
)

// Result is what one check found about one session.
type Result struct {
	Check  string           // "fcrdns", "helo", "relay", "greylist", "dnsbl", "spf", "dkim", "dmarc", ...
	Status Status           // RFC 8601 result word
	Score  float64          // > 0 suspicious, < 0 trustworthy, 0 no opinion
	Action Action           // what this result demands whatever the score; Accept = no demand
	Reason string           // one printable-ASCII line, safe inside an SMTP reply
	Auth   []authres.Result // for Authentication-Results; nil for checks that are no auth method
	Err    error            // the DNS or store error behind TempError / PermError

	// Code and Enhanced are the SMTP reply this result asks for when its
	// Action drives the decision (e.g. 554 and "5.7.1" for a relay denial,
	// 550 and "5.7.23" for an SPF fail). Zero values mean the policy's
	// default reply for the action.
	Code     int
	Enhanced string

	// Domain is the name the result vouches for, where there is one that a
	// later check can use: the forward-confirmed host name for fcrdns, the
	// checked domain for spf and dmarc. Empty otherwise.
	Domain string

	// Stage is the stage whose evaluation produced the result; Evaluate
	// and EvaluateAll set it, whatever the check returned.
	Stage Stage
}

// Check is one admission check. Check must be safe for concurrent use: a
// Policy calls it from several goroutines at once, for different sessions
// and, within a stage, beside the other checks of that stage. It must not
// modify the Session, and it should return promptly when ctx is done.
type Check interface {
	Name() string
	Stage() Stage
	Check(ctx context.Context, s *Session) Result
}

// A Dependent check needs the results of other checks: dmarc needs spf and
// dkim, helo reads the name fcrdns confirmed. When a check it names runs in
// the same evaluation (the same stage, or EvaluateAll), the Policy starts
// the Dependent only once that check has finished, and the Session it
// passes holds that check's result. Names of checks that are not in the
// evaluation are ignored, and so is a dependency that would close a cycle.
type Dependent interface {
	Check
	After() []string
}

// A Prefetcher is a check that can start its DNS lookups before its stage,
// from the facts already known: dmarc can ask for the _dmarc record of the
// MAIL FROM domain while the MAIL stage runs, long before DATA. Evaluate
// calls Prefetch on the checks of later stages, and EvaluateAll on every
// check, without waiting for it to return. Prefetch only warms a cache: it
// is useful with a resolver that caches and shares identical queries in
// flight, such as package resolver. s is a copy of the session's facts,
// without Results; ctx outlives the evaluation but has a deadline.
type Prefetcher interface {
	Check
	Prefetch(ctx context.Context, s *Session)
}

// MaxReason is the length beyond which Printable shortens a string.
const MaxReason = 200

// Printable returns s reduced to one line of printable ASCII of at most
// MaxReason bytes, for putting client-supplied text (a HELO name, an
// address, a DNS TXT string) into a Reason or an SMTP reply. Control
// bytes, CR and LF are dropped, other non-ASCII bytes become '?', and a
// longer string is cut and ends in "...". It is PrintableN(s, MaxReason).
func Printable(s string) string { return PrintableN(s, MaxReason) }

// PrintableN is Printable with a bound of n bytes instead of MaxReason,
// for a part of a Reason that must leave room for the rest (a 255-octet
// HELO name before the findings about it). An n below 4 leaves no room
// for "...": the result is then cut to n bytes without it.
func PrintableN(s string, n int) string {
	n = max(n, 0)
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			clean = false
			break
		}
	}
	if clean && len(s) <= n {
		return s
	}
	b := make([]byte, 0, min(len(s), n))
	i := 0
	for ; i < len(s) && len(b) < n; i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			continue
		case c > 0x7f:
			c = '?'
		}
		b = append(b, c)
	}
	if i < len(s) && n >= 4 {
		b = append(b[:n-3], "..."...)
	}
	return string(b)
}
