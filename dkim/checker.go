package dkim

import (
	"bytes"
	"context"
	"io"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in verdict.Result.Check and
// verdict.Session.Result.
const Name = "dkim"

// Options change how messages are verified. A nil *Options means the
// defaults.
type Options struct {
	// MaxSignatures is how many signatures are verified, from the top of
	// the header; more are counted in the reason but not verified and get
	// no Authentication-Results entry (the header field would otherwise
	// grow with a number the sender chooses). 0 means
	// DefaultMaxSignatures.
	MaxSignatures int

	// MaxHeaderBytes bounds the header section; a longer one gives a
	// PermError without verifying anything, as does one of more than 1000
	// fields. 0 means DefaultMaxHeaderBytes, which is also the most it
	// can be.
	MaxHeaderBytes int

	// Reject makes a message that has signatures but no valid one
	// (Status Fail or PermError) demand Reject, with the reply 550 5.7.20
	// (RFC 7372 §3.1). TempError and None never demand anything, nor do
	// signatures whose key is in testing mode (t=y).
	Reject bool

	// ScoreSHA1 reports rsa-sha1 signatures as "policy" (RFC 8601
	// §2.7.1) instead of "fail": they still never verify (RFC 8301 §3.1),
	// but they no longer make the message's Status Fail, and a message
	// with nothing else gets Status Neutral and Scores.Neutral.
	ScoreSHA1 bool

	// Scores replaces DefaultScores.
	Scores *Scores
}

// Scores are the scores of a result by its Status.
type Scores struct {
	Pass      float64 // at least one signature verifies
	Fail      float64 // signatures present, none verifies
	Neutral   float64 // only rsa-sha1 signatures, with Options.ScoreSHA1
	TempError float64 // a key lookup failed temporarily and nothing passed
	PermError float64 // every signature is unusable (syntax, no key, ...)
	None      float64 // no signature
}

// DefaultScores are the scores used when Options.Scores is nil: a valid
// signature is a weak sign of trust (anyone can sign their own mail), a
// broken one a weak sign of forgery (lists and forwarders break them
// too), in line with rspamd's R_DKIM_ALLOW and R_DKIM_REJECT.
//
// New copies DefaultScores: changing it later does not change a Checker
// already made.
var DefaultScores = Scores{
	Pass:      -0.5,
	Fail:      1,
	Neutral:   0.5,
	PermError: 0.5,
}

// New returns a Checker that looks keys up through r. o may be nil.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r}
	if o != nil {
		c.o = *o
	}
	if c.o.MaxSignatures <= 0 {
		c.o.MaxSignatures = DefaultMaxSignatures
	}
	if c.o.MaxHeaderBytes <= 0 || c.o.MaxHeaderBytes > DefaultMaxHeaderBytes {
		c.o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	c.scores = DefaultScores
	if c.o.Scores != nil {
		c.scores = *c.o.Scores
	}
	c.o.Scores = nil // c.scores is the copy in use
	return c
}

// Checker is the DKIM check of the Data stage: a verdict.Check.
type Checker struct {
	r      Resolver
	o      Options
	scores Scores
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// Check verifies the signatures of s.Message.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, bytes.NewReader(s.Message))
}

// Evaluate verifies the DKIM signatures of message (RFC 6376 §6) and
// returns a result with one *authres.DKIMResult per verified signature in
// Auth (Domain d=, Identifier i=, and s= in the reason, since go-msgauth's
// authres has no header.s) and this Status:
//
//   - Pass if at least one signature verifies;
//   - TempError if none does and a key lookup failed temporarily;
//   - Fail if a signature failed to verify (body hash, signature, or a
//     rule: rsa-sha1 or an RSA key under 1024 bits (RFC 8301), From not
//     signed (RFC 6376 §5.4), x= in the past, or an l= body length tag,
//     which go-msgauth refuses because it lets anyone append text);
//   - PermError if every signature is unusable (bad syntax, no key, revoked
//     key, unknown algorithm, an i= below d= under a key with the flag
//     t=s), or if the header section cannot be read the one way every
//     reader reads it (a bare CR, too large);
//   - Neutral if the only signatures are rsa-sha1 ones and
//     Options.ScoreSHA1 is set;
//   - None if there is no signature.
//
// A signature whose key record has the flag t=y (RFC 6376 §3.6.1: the
// signer is testing DKIM) and that does not verify is reported as it is,
// with "testing key (t=y)" in its reason, but weighs as if it were not
// there: a message whose only failures are such signatures gets
// Scores.None, and Options.Reject does not apply to it.
//
// go-msgauth checks x= against the wall clock; it offers no way to pass the
// time in.
func (c *Checker) Evaluate(ctx context.Context, message io.Reader) verdict.Result {
	return c.verify(ctx, message)
}
