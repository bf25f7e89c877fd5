// Package spf checks whether a client may send mail for a domain by the
// Sender Policy Framework (RFC 7208), and whether the envelope sender's
// domain exists and accepts mail at all (RFC 7505, Postfix's
// reject_unknown_sender_domain).
//
// The evaluation is blitiri.com.ar/go/spf's. This package feeds it through
// the caller's Resolver and adds what the library leaves out: every SPF
// record is checked against the grammar of RFC 7208 before the library
// acts on any of it (§4.6: a syntax error anywhere is permerror, even
// after a matching mechanism); the domain to check is validated first
// (§4.3); a fail carries the domain's own explanation (exp=, §6.2);
// and results are scored for verdict, with a Received-SPF header field
// (§9.1) to record them.
package spf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	libspf "blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Check returns the SPF result for the MAIL FROM identity (RFC 7208 §2.4):
// whether ip may send mail with envelope sender mailFrom, or, for the null
// sender (mailFrom ""), as postmaster@helo. It uses the default Options;
// see Checker for the others.
func Check(ctx context.Context, r Resolver, ip netip.Addr, helo, mailFrom string) verdict.Result {
	return New(r, nil).CheckMailFrom(ctx, ip, helo, mailFrom)
}

// CheckHelo returns the SPF result for the HELO identity (RFC 7208 §2.3):
// whether ip may use the name helo. A HELO that is no domain name (an
// address literal, a single label) gives None.
func CheckHelo(ctx context.Context, r Resolver, ip netip.Addr, helo string) verdict.Result {
	return New(r, nil).CheckHelo(ctx, ip, helo)
}

// Scores are the scores of SPF results, added to a verdict's total.
type Scores struct {
	Pass, Neutral, None, SoftFail, Fail, TempError, PermError float64
}

// DefaultScores are the scores used when Options.Scores is nil. A fail is
// a strong signal and a softfail a weaker one; a pass is only a little
// trust, since any domain, a spammer's too, can publish a record its own
// servers pass. No record at all is slightly suspicious today, a broken
// one a little more. A DNS failure is no evidence (0).
var DefaultScores = Scores{
	Pass:      -0.5,
	Neutral:   0,
	None:      0.5,
	SoftFail:  2,
	Fail:      5,
	TempError: 0,
	PermError: 1,
}

// Options change how a Checker judges. A nil *Options means the defaults.
type Options struct {
	// Scores replaces DefaultScores.
	Scores *Scores
	// RejectFail makes a fail demand Reject, with the reply 550 5.7.23
	// (RFC 7372) and the domain's explanation when it gives one. By
	// default a fail only adds its score.
	RejectFail bool
	// DeferTempError makes a temperror demand TempFail (451 4.4.3), so
	// that the client retries when the DNS works again. By default it
	// demands nothing. A temperror never demands Reject.
	DeferTempError bool
	// Receiver is the host name of the receiving MTA, which explanations
	// may quote (the %{r} macro, RFC 7208 §7.3); "unknown" when empty.
	Receiver string
	// Now returns the time for the %{t} macro; time.Now when nil.
	Now func() time.Time
}

// Checker checks SPF with its options. It implements verdict.Check for
// the MAIL FROM identity; it is safe for concurrent use.
type Checker struct {
	r Resolver
	o Options
}

// New returns a Checker that looks up records with r.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r}
	if o != nil {
		c.o = *o
	}
	if c.o.Scores == nil {
		s := DefaultScores
		c.o.Scores = &s
	}
	return c
}

// Name returns "spf".
func (c *Checker) Name() string { return "spf" }

// Stage returns verdict.Mail: the check needs the envelope sender.
func (c *Checker) Stage() verdict.Stage { return verdict.Mail }

// Check checks the session's MAIL FROM identity (CheckMailFrom).
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.CheckMailFrom(ctx, s.IP, s.HELO, s.MailFrom)
}

// CheckMailFrom is Check with the checker's options: the result for the
// domain of mailFrom, or for postmaster@helo when mailFrom is "". The
// result's Domain is the domain checked.
func (c *Checker) CheckMailFrom(ctx context.Context, ip netip.Addr, helo, mailFrom string) verdict.Result {
	mailFrom = strings.TrimSuffix(strings.TrimPrefix(mailFrom, "<"), ">")
	from, local, domain := mailFrom, "", ""
	if mailFrom == "" {
		// RFC 7208 §2.4: for the null sender, the HELO identity's
		// postmaster is the sender.
		from, local, domain = "postmaster@"+helo, "postmaster", helo
	} else {
		local, domain = splitSender(mailFrom)
	}
	res := c.result(c.evaluate(ctx, ip, helo, local, domain), ip)
	res.Auth = []authres.Result{&authres.SPFResult{Value: authValue(res.Status), From: from, Helo: helo}}
	return res
}

// CheckHelo is the package's CheckHelo with the checker's options.
func (c *Checker) CheckHelo(ctx context.Context, ip netip.Addr, helo string) verdict.Result {
	res := c.result(c.evaluate(ctx, ip, helo, "postmaster", helo), ip)
	res.Auth = []authres.Result{&authres.SPFResult{Value: authValue(res.Status), Helo: helo}}
	return res
}

// outcome is what one check_host() evaluation found.
type outcome struct {
	result libspf.Result
	err    error  // behind a temperror or permerror, or why there was nothing to check
	domain string // the <domain> checked; "" if there was none
	exp    string // the domain's explanation of a fail, or ""
}

var (
	errNoIP     = errors.New("spf: no valid client IP address")
	errNoDomain = errors.New("spf: no valid domain to check")
)

// evaluate runs check_host() (RFC 7208 §4) for ip and the sender
// local@domain.
func (c *Checker) evaluate(ctx context.Context, ip netip.Addr, helo, local, domain string) outcome {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return outcome{result: libspf.None, err: errNoIP}
	}
	// §4.3: a malformed domain, or one of a single label, gives none
	// without a lookup. Names are looked up as lower-case A-labels.
	domain, err := dnsname.Normalize(domain)
	if err != nil || !strings.Contains(domain, ".") {
		return outcome{result: libspf.None, err: errNoDomain}
	}
	if local == "" {
		local = "postmaster" // §4.3
	}
	// The library takes the domain after the first "@": one in a quoted
	// local-part must not make it check another domain.
	sender := strings.ReplaceAll(local, "@", "%40") + "@" + domain

	now := time.Now
	if c.o.Now != nil {
		now = c.o.Now
	}
	lr := &libResolver{r: c.r, env: macroEnv{sender: sender, ip: ip, helo: helo, receiver: c.o.Receiver, now: now()}}
	res, err := libspf.CheckHostWithSender(ip.AsSlice(), helo, sender,
		libspf.WithContext(ctx), libspf.WithResolver(lr))
	out := outcome{result: res, domain: domain}
	switch res {
	case libspf.TempError, libspf.PermError:
		out.err = err
	case libspf.Fail:
		out.exp = explain(ctx, lr)
	}
	return out
}
