package dnsbl

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Identity is the fact of a session a Checker looks up.
type Identity uint8

const (
	ClientIP Identity = iota // the client's address (Session.IP), at the Connect stage
	HELO                     // the HELO/EHLO domain (not an address literal), at the Helo stage
	MailFrom                 // the domain of the envelope sender, at the Mail stage
	RDNS                     // the client's forward-confirmed rDNS name (a passing fcrdns result's Domain), at the Helo stage
)

// Options configure a Checker. A nil *Options means the defaults.
type Options struct {
	// Identity is what to look up; the default is the client's address.
	// Lists of addresses (Check) and lists of domains (CheckDomain) are
	// different lists: give a Checker the lists that fit its Identity.
	Identity Identity

	// Reject, when above zero, makes a result whose Score reaches it
	// demand Reject, as Haraka's dns-list does by default and postscreen's
	// "enforce" does: 554 5.7.1 at the Connect stage (RFC 5321 §3.1), 550
	// 5.7.1 at the others. Zero leaves the decision to the policy's score
	// thresholds, which is the default because one list's mistake should
	// not alone refuse mail.
	Reject float64

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
// None result.
//
// The rDNS identity is read from the fcrdns check's result, which must
// run at the Connect stage; that is why this identity waits for the Helo
// stage, since the checks of one stage run concurrently.
func New(r Resolver, lists []List, o *Options) *Checker {
	c := &Checker{r: r, lists: lists}
	if o != nil {
		c.o = *o
	}
	return c
}

// Checker is the dnsbl check as a verdict.Check.
type Checker struct {
	r     Resolver
	lists []List
	o     Options
}

// Name returns "dnsbl".
func (c *Checker) Name() string { return "dnsbl" }

// Stage returns the stage at which the Checker's identity is known.
func (c *Checker) Stage() verdict.Stage {
	switch c.o.Identity {
	case HELO, RDNS:
		return verdict.Helo
	case MailFrom:
		return verdict.Mail
	}
	return verdict.Connect
}

// After returns "fcrdns" for a Checker of the RDNS identity, whose name
// that check confirms, so that a Policy evaluating both at once
// (EvaluateAll) runs this one second; nothing otherwise.
func (c *Checker) After() []string {
	if c.o.Identity == RDNS {
		return []string{"fcrdns"}
	}
	return nil
}

// Check looks up the Checker's identity of s.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	var res verdict.Result
	switch c.o.Identity {
	case ClientIP:
		res = checkIP(ctx, c.r, s.IP, c.lists, &c.o)
	default:
		d, why := c.domain(s)
		if d == "" {
			return verdict.Result{Check: "dnsbl", Reason: "not checked: " + why}
		}
		res = checkDomain(ctx, c.r, d, c.lists, &c.o)
	}
	if c.o.Reject > 0 && res.Score >= c.o.Reject {
		res.Action = verdict.Reject
		res.Code, res.Enhanced = 550, "5.7.1"
		if c.Stage() == verdict.Connect {
			res.Code = 554
		}
	}
	return res
}

// domain returns the domain the Checker looks up in s, or "" and why not.
func (c *Checker) domain(s *verdict.Session) (string, string) {
	switch c.o.Identity {
	case HELO:
		h := s.HELO
		if h == "" || strings.HasPrefix(h, "[") {
			return "", "no HELO domain"
		}
		if _, err := netip.ParseAddr(h); err == nil {
			return "", "no HELO domain"
		}
		return h, ""
	case MailFrom:
		at := strings.LastIndexByte(s.MailFrom, '@')
		if at < 0 || at == len(s.MailFrom)-1 {
			return "", "no sender domain"
		}
		return s.MailFrom[at+1:], ""
	case RDNS:
		if fc, ok := s.Result("fcrdns"); ok && fc.Status == verdict.Pass && fc.Domain != "" {
			if d, err := dnsname.Normalize(fc.Domain); err == nil {
				return d, ""
			}
		}
		return "", "no confirmed rDNS name"
	}
	return "", "unknown identity"
}
