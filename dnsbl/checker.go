package dnsbl

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in verdict.Result.Check and
// verdict.Session.Result.
const Name = "dnsbl"

// Identity is the fact of a session a Checker looks up.
type Identity uint8

const (
	ClientIP Identity = iota // the client's address (Session.IP), at the Connect stage
	Helo                     // the HELO/EHLO domain (not an address literal), at the Helo stage
	MailFrom                 // the domain of the envelope sender, at the Mail stage
	RDNS                     // the client's forward-confirmed rDNS name (a passing fcrdns result's Domain), at the Helo stage
)

// Options configure a Checker. A nil *Options means the defaults.
type Options struct {
	// Identity is what to look up; the default is the client's address.
	// Lists of addresses (Check) and lists of domains (CheckDomain) are
	// different lists: give a Checker the lists that fit its Identity.
	Identity Identity

	// RejectScore, when above zero, makes a result whose Score reaches it
	// demand Reject, as Haraka's dns-list does by default and postscreen's
	// "enforce" does: 554 5.7.1 at the Connect stage (RFC 5321 §3.1), 550
	// 5.7.1 at the others. Zero leaves the decision to the policy's score
	// thresholds, which is the default because one list's mistake should
	// not alone refuse mail.
	RejectScore float64

	// Timeout bounds each list's lookups; zero means DefaultTimeout.
	Timeout time.Duration

	// NonGlobal makes a ClientIP Checker look up private, loopback and
	// other non-global addresses too: for test zones and RFC 5782 test
	// points, never for production lists.
	NonGlobal bool
}

// New returns a verdict.Check that looks up one identity of each session
// (Options.Identity, the client's address by default) in lists, at the
// stage where that identity is known. An identity a session lacks (no
// HELO, a literal HELO, the null sender, no confirmed rDNS name) gives a
// None result. New copies lists and o: later changes to them do not
// change the Checker.
//
// The rDNS identity is read from the fcrdns check's result, which must
// run at the Connect stage; that is why this identity waits for the Helo
// stage, since the checks of one stage run concurrently.
func New(r Resolver, lists []List, o *Options) *Checker {
	c := &Checker{r: r, lists: slices.Clone(lists), timeout: DefaultTimeout}
	for i := range c.lists {
		c.lists[i].Codes = slices.Clone(c.lists[i].Codes)
		c.lists[i].Errors = slices.Clone(c.lists[i].Errors)
	}
	if o != nil {
		c.identity, c.rejectScore, c.nonGlobal = o.Identity, o.RejectScore, o.NonGlobal
		if o.Timeout > 0 {
			c.timeout = o.Timeout
		}
	}
	return c
}

// Checker is the dnsbl check as a verdict.Check.
type Checker struct {
	r           Resolver
	lists       []List
	identity    Identity
	rejectScore float64
	timeout     time.Duration
	nonGlobal   bool
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns the stage at which the Checker's identity is known.
func (c *Checker) Stage() verdict.Stage {
	switch c.identity {
	case Helo, RDNS:
		return verdict.Helo
	case MailFrom:
		return verdict.Mail
	}
	return verdict.Connect
}

// Check looks up the Checker's identity of s.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	if c.identity == ClientIP {
		return c.Evaluate(ctx, s.IP)
	}
	d, why := c.domain(s)
	if d == "" {
		return verdict.Result{Check: Name, Reason: "not checked: " + why}
	}
	return c.EvaluateDomain(ctx, d)
}

// Evaluate looks ip up in the Checker's lists as the package's Check
// does, with the Checker's Options (Timeout, NonGlobal, RejectScore). It
// is the verb of a ClientIP Checker.
func (c *Checker) Evaluate(ctx context.Context, ip netip.Addr) verdict.Result {
	return c.demand(checkIP(ctx, c.r, ip, c.lists, c.nonGlobal, c.timeout))
}

// EvaluateDomain looks domain up in the Checker's lists as CheckDomain
// does, with the Checker's Options (Timeout, RejectScore). It is the verb
// of a Checker of a domain identity.
func (c *Checker) EvaluateDomain(ctx context.Context, domain string) verdict.Result {
	return c.demand(checkDomain(ctx, c.r, domain, c.lists, c.timeout))
}

// demand applies Options.RejectScore.
func (c *Checker) demand(res verdict.Result) verdict.Result {
	if c.rejectScore > 0 && res.Score >= c.rejectScore {
		res.Action = verdict.Reject
		res.Code, res.Enhanced = 550, "5.7.1"
		if c.Stage() == verdict.Connect {
			res.Code = 554
		}
	}
	return res
}

// After returns fcrdns.Name for a Checker of the RDNS identity, whose name
// that check confirms, so that a Policy evaluating both at once
// (EvaluateAll) runs this one second; nothing otherwise.
func (c *Checker) After() []string {
	if c.identity == RDNS {
		return []string{fcrdns.Name}
	}
	return nil
}

// domain returns the domain the Checker looks up in s, or "" and why not.
func (c *Checker) domain(s *verdict.Session) (string, string) {
	switch c.identity {
	case Helo:
		h := s.HELO
		if h == "" || strings.HasPrefix(h, "[") {
			return "", "no HELO domain"
		}
		if _, err := netip.ParseAddr(h); err == nil {
			return "", "no HELO domain"
		}
		return h, ""
	case MailFrom:
		// As the SMTP server received it: "<a@example.org>", with or
		// without brackets and a source route.
		if d, ok := address.Domain(s.MailFrom); ok {
			return d, ""
		}
		return "", "no sender domain"
	case RDNS:
		if fc, ok := s.Result(fcrdns.Name); ok && fc.Status == verdict.Pass && fc.Domain != "" {
			if d, err := dnsname.Normalize(fc.Domain); err == nil {
				return d, ""
			}
		}
		return "", "no confirmed rDNS name"
	}
	return "", "unknown identity"
}
