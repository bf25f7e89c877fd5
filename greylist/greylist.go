package greylist

import (
	"context"
	"errors"
	"github.com/mtaguard/mtaguard/internal/netset"
	"net/netip"
	"strconv"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Triplet is what greylisting remembers: who sent, from where, to whom.
type Triplet struct {
	IP         netip.Addr
	From, Rcpt string
}

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

	// TrustedNets are never greylisted.
	TrustedNets []netip.Prefix

	// FailClosed makes a store failure a temporary refusal (451 4.3.0),
	// as Haraka does. By default a store failure accepts the mail, with a
	// TempError result that says so: an outage of the greylist store then
	// delays nothing, and greylisting only ever delays mail anyway.
	FailClosed bool

	// Scores replaces DefaultScores.
	Scores *Scores

	// The fields below are read only by the Check that New returns: the
	// pure function Check has no session and no clock.

	// GreylistAuthenticated greylists SMTP AUTH sessions too. By default
	// they are exempt, as in rspamd (check_authed = false) and Haraka.
	GreylistAuthenticated bool
	// Exempt, if set, exempts the sessions it returns true for, e.g.
	// an SPF pass for a domain on a list (s.Result("spf")), a recipient
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

// DefaultScores are the scores used when Options.Scores is nil. Do not
// modify it; set Options.Scores instead.
var DefaultScores = Scores{Deferred: 0, Passed: -0.5, AutoAllowed: -1, StoreError: 0}

// Defaults (RFC 6647 §4 leaves them to the operator; these are postgrey's).
const (
	defaultDelay       = 5 * time.Minute
	defaultRetryWindow = 48 * time.Hour
	defaultLifetime    = 35 * 24 * time.Hour
	defaultAutoAllow   = 5
	countEvery         = time.Hour
	maxDuration        = 10 * 365 * 24 * time.Hour
)

// Reasons of the results; reasonGreylisted is the text the client sees.
const (
	reasonGreylisted = "greylisted, try again later"
	reasonStore      = "greylist store failed"
)

var errNoStore = errors.New("greylist: no store")

// settings are Options resolved: defaults filled in, limits applied.
type settings struct {
	rules      Rules
	bits4      int
	bits6      int
	trusted    netset.Set
	failClosed bool
	scores     Scores
}

func resolve(o *Options) settings {
	if o == nil {
		o = &Options{}
	}
	s := settings{
		rules: Rules{
			Delay:       duration(o.Delay, defaultDelay),
			RetryWindow: duration(o.RetryWindow, defaultRetryWindow),
			Lifetime:    duration(o.Lifetime, defaultLifetime),
			AutoAllow:   o.AutoAllow,
			CountEvery:  countEvery,
		},
		bits4:      prefixLen(o.IPv4Prefix, 24, 32),
		bits6:      prefixLen(o.IPv6Prefix, 64, 128),
		failClosed: o.FailClosed,
		scores:     DefaultScores,
	}
	s.rules.RetryWindow = max(s.rules.RetryWindow, s.rules.Delay)
	switch {
	case s.rules.AutoAllow == 0:
		s.rules.AutoAllow = defaultAutoAllow
	case s.rules.AutoAllow < 0:
		s.rules.AutoAllow = 0
	}
	if len(o.TrustedNets) > 0 {
		s.trusted = netset.New(o.TrustedNets)
	}
	if o.Scores != nil {
		s.scores = *o.Scores
	}
	return s
}

func duration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return min(max(d, time.Millisecond), maxDuration)
}

func prefixLen(n, def, most int) int {
	if n <= 0 || n > most {
		return def
	}
	return n
}

// Check greylists one recipient of a transaction (RFC 6647): the first
// sighting of a triplet, and a retry sooner than o.Delay, get a TempFail
// demand (451 4.7.1 "greylisted, try again later"); a retry after the delay
// and within the retry window passes, and the triplet is remembered for
// o.Lifetime after each use. now is the time of the sighting.
//
// The triplet is keyed on the client's network (IPv4 /24, IPv6 /64 by
// default), the sender normalised so that the retries of one message and
// the mail of one sender match (see appendSender: BATV, SRS, VERP,
// +extension), and the recipient. A client without an address, or in
// o.TrustedNets, is not greylisted (Status None).
//
// A store failure accepts the mail with Status TempError (the reason says
// so, Err holds the error) unless o.FailClosed, which makes it a TempFail
// demand, 451 4.3.0.
func Check(ctx context.Context, st Store, t Triplet, now time.Time, o *Options) verdict.Result {
	s := resolve(o)
	return s.check(ctx, st, t, now)
}

func (s *settings) check(ctx context.Context, st Store, t Triplet, now time.Time) verdict.Result {
	ip := t.IP.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return result(verdict.None, 0, "no client address, not greylisted")
	case s.trusted.Contains(ip):
		return result(verdict.None, 0, "trusted network, not greylisted")
	case st == nil:
		return s.storeFailed(errNoStore)
	}
	out, err := st.Observe(ctx, makeKey(ip, t.From, t.Rcpt, s.bits4, s.bits6), now, s.rules)
	if err != nil {
		return s.storeFailed(err)
	}
	switch out.State {
	case Deferred, Early:
		r := result(verdict.SoftFail, s.scores.Deferred, reasonGreylisted)
		r.Action, r.Code, r.Enhanced = verdict.TempFail, 451, "4.7.1"
		return r
	case Passed:
		waited := now.Sub(out.First).Round(time.Second)
		return result(verdict.Pass, s.scores.Passed, "passed greylisting after "+strconv.FormatInt(int64(waited/time.Second), 10)+"s")
	case Known:
		return result(verdict.Pass, s.scores.Passed, "known triplet")
	case AutoAllowed:
		return result(verdict.Pass, s.scores.AutoAllowed, "client network auto-allowed")
	}
	return s.storeFailed(errors.New("greylist: store returned " + out.State.String()))
}

func (s *settings) storeFailed(err error) verdict.Result {
	if s.failClosed {
		r := result(verdict.TempError, s.scores.StoreError, reasonStore+", try again later")
		r.Action, r.Code, r.Enhanced, r.Err = verdict.TempFail, 451, "4.3.0", err
		return r
	}
	r := result(verdict.TempError, s.scores.StoreError, reasonStore+", accepted")
	r.Err = err
	return r
}

func result(st verdict.Status, score float64, reason string) verdict.Result {
	return verdict.Result{Check: "greylist", Status: st, Score: score, Reason: reason}
}

// New returns a verdict.Check that greylists each recipient at the Rcpt
// stage, with the session's client, sender and recipient, keeping the
// history in st. Authenticated sessions are exempt unless
// o.GreylistAuthenticated, and so are those o.Exempt returns true for.
// o is copied: later changes to it have no effect.
func New(st Store, o *Options) verdict.Check {
	c := &checker{st: st, s: resolve(o), now: time.Now}
	if o != nil {
		c.exempt, c.greylistAuth = o.Exempt, o.GreylistAuthenticated
		if o.Now != nil {
			c.now = o.Now
		}
	}
	return c
}

type checker struct {
	st           Store
	s            settings
	now          func() time.Time
	exempt       func(*verdict.Session) bool
	greylistAuth bool
}

func (c *checker) Name() string         { return "greylist" }
func (c *checker) Stage() verdict.Stage { return verdict.Rcpt }

func (c *checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	switch {
	case s.AuthUser != "" && !c.greylistAuth:
		return result(verdict.None, 0, "authenticated, not greylisted")
	case c.exempt != nil && c.exempt(s):
		return result(verdict.None, 0, "exempt, not greylisted")
	}
	return c.s.check(ctx, c.st, Triplet{IP: s.IP, From: s.MailFrom, Rcpt: s.Rcpt}, c.now())
}
