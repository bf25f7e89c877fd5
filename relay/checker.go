package relay

import (
	"context"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the relay check in results and policies.
const Name = "relay"

// New returns the relay check for a verdict.Policy: it applies p at the
// Rcpt stage to the session's client, sender and recipient. The sender
// rules run there too, not at a separate Mail stage check, as Postfix's
// smtpd_delay_reject (the default) does: some clients mishandle a refused
// MAIL FROM, and a refusal at RCPT TO is logged with the recipient it
// concerns. p is copied: later changes to it have no effect. A nil p
// means an empty Policy (nothing is ours, nobody may relay).
func New(p *Policy) *Checker {
	return &Checker{r: compile(p)}
}

// Checker is the relay check as a verdict.Check.
type Checker struct{ r *rules }

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Rcpt.
func (c *Checker) Stage() verdict.Stage { return verdict.Rcpt }

// Check decides for s.Rcpt from the session's client (IP, AuthUser, TLS,
// Trusted, ClientCert), its sender and its SMTPUTF8 parameter.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(Envelope{
		IP:         s.IP,
		AuthUser:   s.AuthUser,
		TLS:        s.TLS,
		Trusted:    s.Trusted,
		MailFrom:   s.MailFrom,
		ClientCert: s.ClientCert,
		Rcpt:       s.Rcpt,
		SMTPUTF8:   s.SMTPUTF8,
	})
}

// Evaluate applies the Checker's Policy to e, as Check(p, e) does.
func (c *Checker) Evaluate(e Envelope) verdict.Result {
	return c.r.check(e)
}
