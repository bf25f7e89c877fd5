package message

import (
	"context"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in results and policy weights.
const Name = "message"

// The default Date limits, rspamd's (misc.lua): a Date more than two hours
// ahead is DATE_IN_FUTURE, more than a day back DATE_IN_PAST.
const (
	DefaultMaxFuture = 2 * time.Hour
	DefaultMaxPast   = 24 * time.Hour
)

// Options change what the check demands and how it dates messages. A nil
// *Options means the defaults; the zero value of every field means its
// default too.
type Options struct {
	// ScoreOnly makes the structural findings (see Structural) score
	// instead of demanding 550 5.6.0. The name says the exception so that
	// the zero Options keeps the default: refuse what readers may show
	// otherwise than it was checked.
	ScoreOnly bool

	// RejectBounce makes a bounce to several recipients demand 550 5.5.3,
	// as Postfix's reject_multi_recipient_bounce does; by default it only
	// scores.
	RejectBounce bool

	// MaxFuture and MaxPast bound how far the Date field may lie ahead of
	// or behind the time the message arrived. 0 means DefaultMaxFuture and
	// DefaultMaxPast.
	MaxFuture, MaxPast time.Duration

	// Now returns the time a message arrived, for Check. nil means
	// time.Now.
	Now func() time.Time

	// Scores replaces DefaultScores.
	Scores *Scores
}

func (o *Options) dateLimits() (future, past time.Duration) {
	future, past = DefaultMaxFuture, DefaultMaxPast
	if o != nil && o.MaxFuture > 0 {
		future = o.MaxFuture
	}
	if o != nil && o.MaxPast > 0 {
		past = o.MaxPast
	}
	return future, past
}

// Scores are the scores of the findings; a result's Score is the sum of
// those found.
type Scores struct {
	SeveralFrom, LeadingContinuation, BareCR, NoColon, HeaderTooLarge float64
	NoFrom, NoDate, SeveralDate, BadDate, DateFuture, DatePast        float64
	// Duplicate is multiplied by the weight of the repeated field: 1 for
	// Sender and Reply-To, 0.7 for Subject, Message-ID and In-Reply-To,
	// 0.3 References, 0.2 To, 0.1 Cc (the highest when several repeat).
	Duplicate                                    float64
	NoMessageID, BadName, NonASCIIName, LongLine float64
	NUL, BareLF, EightBitHeader, EightBitBody    float64
	MultiRecipientBounce                         float64
}

// DefaultScores are the scores used when Options.Scores is nil. Where
// rspamd has a rule for the finding, its weight: MULTIPLE_FROM 8,
// BROKEN_HEADERS 10 for the other structural breaks, MISSING_FROM 2,
// MISSING_DATE 1, INVALID_DATE 1.5, DATE_IN_FUTURE 4, DATE_IN_PAST 1,
// MULTIPLE_UNIQUE_HEADERS 7 (times the field's weight; Date's is 0.1),
// MISSING_MID 2.5. The rest are this package's: a bare LF or an
// unannounced 8-bit byte is what Postfix and Exim quietly accept (Postfix
// normalizes bare LF by default since 3.9, and its strict_8bitmime is
// off), so they weigh little; a broken field name or a NUL is rarer and
// weighs more; a bounce to several recipients is a bounce no MTA sends.
//
// DefaultScores is read, never written, by this package. To change the
// scores, copy it, change the copy, and pass it in Options.Scores.
var DefaultScores = Scores{
	SeveralFrom: 8, LeadingContinuation: 10, BareCR: 10, NoColon: 10, HeaderTooLarge: 10,
	NoFrom: 2, NoDate: 1, SeveralDate: 0.7, BadDate: 1.5, DateFuture: 4, DatePast: 1,
	Duplicate: 7, NoMessageID: 2.5, BadName: 3, NonASCIIName: 5, LongLine: 1,
	NUL: 3, BareLF: 0.5, EightBitHeader: 1, EightBitBody: 1, MultiRecipientBounce: 5,
}

// New returns a Checker with the options o (nil for the defaults).
func New(o *Options) *Checker {
	c := &Checker{scores: DefaultScores, now: time.Now}
	if o != nil {
		c.opts = *o
		if o.Scores != nil {
			c.scores = *o.Scores
		}
		if o.Now != nil {
			c.now = o.Now
		}
	}
	c.opts.Scores, c.opts.Now = nil, nil
	c.opts.MaxFuture, c.opts.MaxPast = c.opts.dateLimits()
	return c
}

// Checker checks messages at the Data stage. It is a verdict.Check and
// safe for concurrent use.
type Checker struct {
	opts   Options
	scores Scores
	now    func() time.Time
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// Check checks the session's message against its envelope: the sender,
// the recipients (Session.Rcpts), BODY=8BITMIME and SMTPUTF8.
func (c *Checker) Check(_ context.Context, s *verdict.Session) verdict.Result {
	e := Envelope{MailFrom: s.MailFrom, Rcpts: s.Rcpts, EightBitMIME: s.EightBitMIME, SMTPUTF8: s.SMTPUTF8}
	if len(e.Rcpts) == 0 && s.Rcpt != "" {
		e.Rcpts = []string{s.Rcpt}
	}
	return c.Evaluate(e, s.Message, c.now())
}

// Evaluate checks message, which arrived at now with the envelope e:
// Pass when nothing is wrong, SoftFail with a score when only cosmetic
// faults are found, Fail when a structural one is, demanding 550 5.6.0
// unless ScoreOnly. The reason names the findings (see Finding.String).
func (c *Checker) Evaluate(e Envelope, message []byte, now time.Time) verdict.Result {
	rep := inspect(e, message, now, &c.opts)
	f := rep.found
	r := verdict.Result{Check: Name, Status: verdict.Pass, Reason: "well formed"}
	if f == 0 {
		return r
	}
	r.Score = c.score(rep)
	r.Status = verdict.SoftFail
	r.Reason = "malformed: " + f.String()
	if len(rep.repeated) > 0 {
		r.Reason += " (repeated " + strings.Join(rep.repeated, ",") + ")"
	}
	switch {
	case f&Structural != 0:
		r.Status = verdict.Fail
		if !c.opts.ScoreOnly {
			r.Action, r.Code, r.Enhanced = verdict.Reject, 550, "5.6.0"
		}
	case f&MultiRecipientBounce != 0 && c.opts.RejectBounce:
		r.Action, r.Code, r.Enhanced = verdict.Reject, 550, "5.5.3"
	}
	r.Reason = verdict.Printable(r.Reason)
	return r
}

// score sums the scores of the findings.
func (c *Checker) score(rep report) float64 {
	s := &c.scores
	per := []float64{
		s.SeveralFrom, s.LeadingContinuation, s.BareCR, s.NoColon, s.HeaderTooLarge,
		s.NoFrom, s.NoDate, s.SeveralDate, s.BadDate, s.DateFuture, s.DatePast,
		s.Duplicate * rep.weight, s.NoMessageID, s.BadName, s.NonASCIIName, s.LongLine,
		s.NUL, s.BareLF, s.EightBitHeader, s.EightBitBody, s.MultiRecipientBounce,
	}
	total := 0.0
	for i, v := range per {
		if rep.found&(1<<i) != 0 {
			total += v
		}
	}
	return total
}
