package fcrdns

import (
	"context"

	"github.com/mtaguard/mtaguard/verdict"
)

// New returns the check as a verdict.Check for the Connect stage: it
// checks the session's client address with r and o (nil for the
// defaults). Its result's Domain, on Pass, is the confirmed name that the
// helo check compares the HELO name with.
func New(r Resolver, o *Options) *Checker {
	return &Checker{r: r, o: o}
}

// Checker is the fcrdns check as a verdict.Check.
type Checker struct {
	r Resolver
	o *Options
}

// Name returns "fcrdns".
func (c *Checker) Name() string { return "fcrdns" }

// Stage returns verdict.Connect: the check needs only the client address.
func (c *Checker) Stage() verdict.Stage { return verdict.Connect }

// Check checks s.IP.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return check(ctx, c.r, s.IP, c.o)
}
