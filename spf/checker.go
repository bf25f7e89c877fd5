package spf

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in verdict.Result.Check.
const Name = "spf"

// Options change how a Checker judges. A nil *Options means the defaults.
type Options struct {
	// Scores replaces DefaultScores.
	Scores *Scores
	// Reject makes a fail demand Reject, with the reply 550 5.7.23
	// (RFC 7372) and the domain's explanation when it gives one. By
	// default a fail only adds its score.
	Reject bool
	// Defer makes a temperror demand TempFail (451 4.4.3), so that the
	// client retries when the DNS works again. By default it demands
	// nothing. A temperror never demands Reject.
	Defer bool
	// Receiver is the host name of the receiving MTA, which explanations
	// may quote (the %{r} macro, RFC 7208 §7.3); "unknown" when empty.
	Receiver string
	// Now returns the time for the %{t} macro; time.Now when nil.
	Now func() time.Time
}

// Scores are the scores of SPF results, added to a verdict's total.
type Scores struct {
	Pass, Neutral, None, SoftFail, Fail, TempError, PermError float64
}

// DefaultScores are the scores used when Options.Scores is nil. A fail is
// a strong signal and a softfail a weaker one; a pass is only a little
// trust, since any domain, a spammer's too, can publish a record its own
// servers pass. No record at all is slightly suspicious today, a broken
// one a little more. A DNS failure is no evidence (0). New copies it:
// changing it later does not change a Checker already made.
var DefaultScores = Scores{
	Pass:      -0.5,
	Neutral:   0,
	None:      0.5,
	SoftFail:  2,
	Fail:      5,
	TempError: 0,
	PermError: 1,
}

// New returns a Checker that looks up records with r and judges with o
// (nil for the defaults). It copies o and the scores: later changes to
// them do not change the Checker.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r, scores: DefaultScores}
	if o != nil {
		c.o = *o
		if o.Scores != nil {
			c.scores = *o.Scores
		}
	}
	c.o.Scores = nil
	return c
}

// Checker checks SPF with its options. It implements verdict.Check for
// the MAIL FROM identity; it is safe for concurrent use.
type Checker struct {
	r      Resolver
	o      Options
	scores Scores
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Mail: the check needs the envelope sender.
func (c *Checker) Stage() verdict.Stage { return verdict.Mail }

// Check checks the session's MAIL FROM identity: Evaluate with the
// session's client address, HELO name and envelope sender.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, s.IP, s.HELO, s.MailFrom)
}

// Evaluate is Check with the checker's options: the result for the
// domain of mailFrom (as written in MAIL FROM, with or without angle
// brackets), or for postmaster@helo when mailFrom is the null sender. The
// result's Domain is the domain checked.
func (c *Checker) Evaluate(ctx context.Context, ip netip.Addr, helo, mailFrom string) verdict.Result {
	from := strings.TrimSuffix(strings.TrimPrefix(mailFrom, "<"), ">")
	var local, domain string
	if from == "" {
		// RFC 7208 §2.4: for the null sender, the HELO identity's
		// postmaster is the sender.
		from, local, domain = "postmaster@"+helo, "postmaster", helo
	} else if l, d, ok := address.Split(mailFrom); ok {
		local, domain = l, d
	} else {
		local = from // no domain: None
	}
	res := c.result(c.evaluate(ctx, ip, helo, local, domain), ip)
	res.Auth = []authres.Result{&authres.SPFResult{Value: authValue(res.Status), From: from, Helo: helo}}
	return res
}

// EvaluateHelo is the package's CheckHelo with the checker's options.
func (c *Checker) EvaluateHelo(ctx context.Context, ip netip.Addr, helo string) verdict.Result {
	res := c.result(c.evaluate(ctx, ip, helo, "postmaster", helo), ip)
	res.Auth = []authres.Result{&authres.SPFResult{Value: authValue(res.Status), Helo: helo}}
	return res
}
