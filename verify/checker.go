package verify

import (
	"context"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the Check of Callout.Verify's results. The checks made by
// NewSender and NewRecipient are named SenderName and RecipientName.
const Name = "verify"

// Names of the package's checks.
const (
	SenderName    = Name + "-sender"
	RecipientName = Name + "-recipient"
)

// Options change what the callout checks demand. A nil *Options means the
// defaults: a failed verification scores, and demands nothing.
type Options struct {
	// Reject makes a Fail demand Reject: 550 5.1.7 for a sender ("bad
	// sender's mailbox address"), 550 5.1.1 for a recipient ("bad
	// destination mailbox address", RFC 3463), as Postfix's
	// reject_unverified_sender and reject_unverified_recipient with
	// unverified_*_reject_code = 550.
	Reject bool
	// Defer makes a TempError (the probe could not tell) demand TempFail:
	// 450 4.1.7 for a sender, 450 4.1.1 for a recipient, as Postfix's
	// unverified_*_tempfail_action = defer. By default the mail goes on
	// unverified.
	Defer bool
	// Domains limits the check to addresses in these domains and their
	// subdomains; empty means every domain. A recipient check should name
	// the domains it relays to, so that mail our own users send out is
	// not probed.
	Domains []string
	// ProbeAuthenticated verifies the addresses of authenticated
	// sessions too; by default they are not verified.
	ProbeAuthenticated bool
	// ProbeSPFFail verifies the sender even when SPF already failed; by
	// default the callout is spared: the sender is forged, and its owner
	// would be probed for nothing.
	ProbeSPFFail bool
	// Scores replaces DefaultScores.
	Scores *Scores
}

// Scores are the scores of the callout checks' results; the others score 0.
type Scores struct {
	Fail float64 // the server refused the address
	// TempError is the score of an undecided probe. A failure to
	// verify is no evidence: keep it small.
	TempError float64
}

// DefaultScores are the scores used when Options.Scores is nil.
var DefaultScores = Scores{Fail: 5}

// NewSender returns the Mail stage check that verifies the envelope sender
// by callout: Postfix's reject_unverified_sender. The null sender is never
// verified. The check copies o and the scores it names.
func NewSender(c *Callout, o *Options) verdict.Check {
	return newChecker(c, o, verdict.Mail)
}

// NewRecipient returns the Rcpt stage check that verifies each recipient by
// callout: Postfix's reject_unverified_recipient, for the domains a border
// MX relays to (set Callout.Route to reach the inside server). The check
// copies o and the scores it names.
func NewRecipient(c *Callout, o *Options) verdict.Check {
	return newChecker(c, o, verdict.Rcpt)
}

func newChecker(c *Callout, o *Options, stage verdict.Stage) *Checker {
	k := &Checker{c: c, stage: stage, scores: DefaultScores}
	if o != nil {
		k.o = *o
		if o.Scores != nil {
			k.scores = *o.Scores
		}
	}
	k.o.Scores = nil
	k.o.Domains = nil
	for _, d := range o.domains() {
		if n, err := dnsname.Normalize(d); err == nil {
			k.o.Domains = append(k.o.Domains, n)
		}
	}
	return k
}

func (o *Options) domains() []string {
	if o == nil {
		return nil
	}
	return o.Domains
}

// Checker is the callout check made by NewSender or NewRecipient.
type Checker struct {
	c      *Callout
	o      Options
	scores Scores
	stage  verdict.Stage
}

// Name returns SenderName or RecipientName.
func (k *Checker) Name() string {
	if k.stage == verdict.Mail {
		return SenderName
	}
	return RecipientName
}

// Stage returns verdict.Mail for a sender check, verdict.Rcpt for a
// recipient check.
func (k *Checker) Stage() verdict.Stage { return k.stage }

// Check verifies the session's sender (or recipient), unless the session
// is authenticated or, for a sender, SPF already failed (see Options).
func (k *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	addr := s.Rcpt
	if k.stage == verdict.Mail {
		addr = s.MailFrom
	}
	if s.AuthUser != "" && !k.o.ProbeAuthenticated {
		return verdict.Result{Check: k.Name(), Reason: "authenticated session: not verified"}
	}
	if k.stage == verdict.Mail && !k.o.ProbeSPFFail {
		if r, ok := s.Result(spfName); ok && r.Status == verdict.Fail {
			return verdict.Result{Check: k.Name(), Reason: "SPF failed: sender not verified"}
		}
	}
	return k.Evaluate(ctx, addr)
}

// spfName is the name of package spf's check.
const spfName = "spf"

// After names the spf check for a sender check, so that a Policy runs it
// first and the sender check can spare the callout when SPF failed.
func (k *Checker) After() []string {
	if k.stage == verdict.Mail && !k.o.ProbeSPFFail {
		return []string{spfName}
	}
	return nil
}

// Evaluate verifies the address addr with the check's Callout and options.
func (k *Checker) Evaluate(ctx context.Context, addr string) verdict.Result {
	if len(k.o.Domains) > 0 {
		_, d, _ := address.Split(addr)
		if !k.inDomains(d) {
			return verdict.Result{Check: k.Name(), Reason: "address not in a verified domain"}
		}
	}
	res := k.c.Verify(ctx, addr)
	res.Check = k.Name()
	switch res.Status {
	case verdict.Fail:
		res.Score = k.scores.Fail
		if k.o.Reject {
			res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.1.1"
			if k.stage == verdict.Mail {
				res.Enhanced = "5.1.7"
			}
		}
	case verdict.TempError:
		res.Score = k.scores.TempError
		if k.o.Defer {
			res.Action, res.Code, res.Enhanced = verdict.TempFail, 450, "4.1.1"
			if k.stage == verdict.Mail {
				res.Enhanced = "4.1.7"
			}
		}
	}
	if k.stage == verdict.Mail {
		res.Reason = "sender " + res.Reason
	} else {
		res.Reason = "recipient " + res.Reason
	}
	return res
}

func (k *Checker) inDomains(d string) bool {
	n, err := dnsname.Normalize(d)
	if err != nil {
		return false
	}
	for _, want := range k.o.Domains {
		if dnsname.IsSubdomain(n, want) {
			return true
		}
	}
	return false
}
