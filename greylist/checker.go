package greylist

import (
	"context"
	"net/netip"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in verdict.Result.Check.
const Name = "greylist"

// Options configure greylisting. A nil *Options, and every zero field,
// means the default. Durations are kept to the millisecond.
type Options struct {
	Delay       time.Duration // minimum wait before a retry is accepted; default 5 minutes
	RetryWindow time.Duration // how long a first sighting waits for its retry; default 2 days (at least Delay)
	Lifetime    time.Duration // how long a passed triplet is remembered after its last use; default 35 days

	// AutoAllow is the number of passes after which a client network is
	// no longer greylisted, for Lifetime after its last sighting (postgrey's
	// --auto-whitelist-clients). Passes are counted at most once an hour,
	// so one burst of mail does not earn it. Default 5; negative: never.
	AutoAllow int

	// IPv4Prefix and IPv6Prefix are the lengths of the client network a
	// triplet is keyed on, so that a retry from another host of the same
	// sending pool matches. Defaults /24 and /64, as postgrey (rspamd uses
	// /19 for IPv4); 32 and 128 key on the host alone.
	IPv4Prefix, IPv6Prefix int

	// TrustedNets are never greylisted. Check does not greylist a session
	// marked verdict.Session.Trusted either (verdict.Policy.TrustedNets
	// marks it): either is enough.
	TrustedNets []netip.Prefix

	// Defer makes a store failure a temporary refusal (451 4.3.0), as
	// Haraka does. By default a store failure accepts the mail, with a
	// TempError result that says so: an outage of the greylist store then
	// delays nothing, and greylisting only ever delays mail anyway.
	Defer bool

	// Scores replaces DefaultScores.
	Scores *Scores

	// The fields below are read only by the Checker that New returns:
	// the pure function Check has no session and no clock.

	// GreylistAuthenticated greylists SMTP AUTH sessions too. By default
	// they are exempt, as in rspamd (check_authed = false) and Haraka.
	GreylistAuthenticated bool
	// Exempt, if set, exempts the sessions it returns true for, e.g.
	// an SPF pass for a domain on a list (s.Result(spf.Name)), a recipient
	// such as postmaster, or a low score so far (rspamd greylists only
	// suspicious mail).
	Exempt func(s *verdict.Session) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Scores are the scores of greylisting results. A retry after the delay
// is what a real MTA's queue does and most spam engines do not, so passing
// is a weak sign of trust; an auto-allowed network has shown it repeatedly.
type Scores struct {
	Deferred    float64 // first sighting or early retry (the TempFail demand does the work)
	Passed      float64 // retried after the delay, or a known triplet
	AutoAllowed float64 // the client network is auto-allowed
	StoreError  float64 // the store failed
}

// DefaultScores are the scores used when Options.Scores is nil. New copies
// it: changing it later does not change a Checker already made.
var DefaultScores = Scores{Deferred: 0, Passed: -0.5, AutoAllowed: -1, StoreError: 0}

// New returns a Checker that greylists each recipient at the Rcpt stage,
// with the session's client, sender and recipient, keeping the history in
// st. Authenticated sessions are exempt unless o.GreylistAuthenticated,
// and so are those o.Exempt returns true for. o (nil for the defaults) and
// the scores are copied: later changes to them have no effect.
func New(st Store, o *Options) *Checker {
	c := &Checker{st: st, s: resolve(o), now: time.Now}
	if o != nil {
		c.exempt, c.greylistAuth = o.Exempt, o.GreylistAuthenticated
		if o.Now != nil {
			c.now = o.Now
		}
	}
	return c
}

// Checker is greylisting as a verdict.Check; it is safe for concurrent
// use.
type Checker struct {
	st           Store
	s            settings
	now          func() time.Time
	exempt       func(*verdict.Session) bool
	greylistAuth bool
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Rcpt: a triplet needs the recipient.
func (c *Checker) Stage() verdict.Stage { return verdict.Rcpt }

// Check greylists the session's recipient, unless the session is exempt
// (trusted, authenticated, or excepted by Options.Exempt):
// Evaluate with the session's client address, sender and recipient, at
// the time of the Checker's clock.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	switch {
	case s.Trusted:
		return result(verdict.None, 0, "trusted client, not greylisted")
	case s.AuthUser != "" && !c.greylistAuth:
		return result(verdict.None, 0, "authenticated, not greylisted")
	case c.exempt != nil && c.exempt(s):
		return result(verdict.None, 0, "exempt, not greylisted")
	}
	return c.Evaluate(ctx, Triplet{IP: s.IP, From: s.MailFrom, Rcpt: s.Rcpt}, c.now())
}

// Evaluate is Check without a session: the package's Check of t at now
// with the checker's store and options. No session exemption applies.
func (c *Checker) Evaluate(ctx context.Context, t Triplet, now time.Time) verdict.Result {
	return c.s.check(ctx, c.st, t, now)
}
