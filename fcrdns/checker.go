package fcrdns

import (
	"context"
	"net/netip"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in verdict.Result.Check and
// verdict.Session.Result.
const Name = "fcrdns"

// Options configure the check. A nil *Options means the defaults.
type Options struct {
	// Scores replaces DefaultScores.
	Scores *Scores

	// NonGlobal makes the check look up private, loopback, link-local
	// and shared (RFC 6598) addresses too. By default they are not looked
	// up, as Haraka does: their PTR queries would leak to the public DNS,
	// and a missing name says nothing about an internal client.
	NonGlobal bool
}

// Scores are the points the check adds to a session's score, on the scale
// of verdict.Policy (a strong single signal is about 3 to 6, a trust signal
// is negative).
type Scores struct {
	Pass      float64 // a PTR name resolves back to the client
	Fail      float64 // PTR names exist, none resolves back
	PermError float64 // no PTR record at all
	TempError float64 // a DNS failure prevented the answer; keep it 0 or tiny
	Generic   float64 // added when the name looks like an access provider's (see Generic)
}

// DefaultScores are the scores used when Options.Scores is nil. They
// follow rspamd's weights: no PTR record at all (RDNS_NONE plus
// HFILTER_HOSTNAME_UNKNOWN) weighs more than a name that does not confirm,
// since every large sender publishes one; a confirmed name is a weak trust
// signal, since spammers' hosting has one too; and a DNS failure is no
// evidence (rspamd's RDNS_DNSFAIL weighs 0).
//
// New copies DefaultScores: changing it later does not change a Checker
// already made.
var DefaultScores = Scores{
	Pass:      -0.5,
	Fail:      2,
	PermError: 3,
	TempError: 0,
	Generic:   1.5,
}

// New returns the check as a verdict.Check for the Connect stage: it
// checks the session's client address with r and o (nil for the
// defaults). Its result's Domain, on Pass, is the confirmed name that the
// helo check compares the HELO name with.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r, scores: DefaultScores}
	if o != nil {
		c.nonGlobal = o.NonGlobal
		if o.Scores != nil {
			c.scores = *o.Scores
		}
	}
	return c
}

// Checker is the fcrdns check as a verdict.Check.
type Checker struct {
	r         Resolver
	scores    Scores
	nonGlobal bool
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Connect: the check needs only the client address.
func (c *Checker) Stage() verdict.Stage { return verdict.Connect }

// Check checks s.IP.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, s.IP)
}

// Evaluate checks ip as Check does, with the Checker's Options.
func (c *Checker) Evaluate(ctx context.Context, ip netip.Addr) verdict.Result {
	return check(ctx, c.r, ip, c.nonGlobal, &c.scores)
}
