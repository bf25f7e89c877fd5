package helo

import (
	"context"
	"strings"
	"sync"

	"github.com/mtaguard/mtaguard/verdict"
)

// New returns the check as a verdict.Check for the Helo stage. It checks
// the session's HELO name with r and o (nil for the defaults), taking
// Options.ClientName from the session's fcrdns result (its Domain, when its
// Status is Pass), so the fcrdns check must run at the Connect stage for
// the rDNS part of the consistency sub-check to work.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r}
	if o != nil {
		c.o = *o
	}
	return c
}

// Checker is the helo check as a verdict.Check.
type Checker struct {
	r Resolver
	o Options
}

// Name returns "helo".
func (c *Checker) Name() string { return "helo" }

// Stage returns verdict.Helo.
func (c *Checker) Stage() verdict.Stage { return verdict.Helo }

// After returns "fcrdns": the HELO consistency sub-check uses the name it
// confirmed, so a Policy evaluating both at once runs helo second.
func (c *Checker) After() []string { return []string{"fcrdns"} }

// Check checks s.HELO from s.IP. A session without a HELO name (the client
// sent none, which Postfix allows unless smtpd_helo_required is set) gets
// None: there is nothing to check.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	if s.HELO == "" {
		return verdict.Result{Check: "helo", Reason: "no HELO name"}
	}
	o := c.o
	o.ClientName = ""
	if fc, ok := s.Result("fcrdns"); ok && fc.Status == verdict.Pass {
		o.ClientName = fc.Domain
	}
	return Check(ctx, c.r, s.IP, s.HELO, &o)
}

// Prefetch starts the address lookups of the HELO name, which do not
// depend on fcrdns, so that with a caching resolver (package resolver) the
// wait for fcrdns costs no extra round trip when a Policy evaluates both
// at once. It is a verdict.Prefetcher.
func (c *Checker) Prefetch(ctx context.Context, s *verdict.Session) {
	n, err := Parse(s.HELO)
	if err != nil || n.Kind != Domain || !strings.Contains(n.Domain, ".") {
		return
	}
	var wg sync.WaitGroup
	for _, network := range []string{"ip4", "ip6"} {
		wg.Go(func() { c.r.LookupNetIP(ctx, network, n.Domain) })
	}
	wg.Wait()
}
