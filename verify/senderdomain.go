package verify

import (
	"context"

	"github.com/mtaguard/mtaguard/verdict"
)

// SenderDomainName is the name of the sender-domain check and the Check of
// CheckSenderDomain's results.
const SenderDomainName = "sender-domain"

// SenderDomain is CheckSenderDomain as a verdict.Check at the Mail stage.
type SenderDomain struct {
	r Resolver
	o SenderDomainOptions
}

// NewSenderDomain returns a check of the session's sender domain. It
// copies o and the scores it names (or DefaultSenderDomainScores), so
// later changes to them do not affect it.
func NewSenderDomain(r Resolver, o *SenderDomainOptions) *SenderDomain {
	c := &SenderDomain{r: r}
	if o != nil {
		c.o = *o
	}
	s := DefaultSenderDomainScores
	if c.o.Scores != nil {
		s = *c.o.Scores
	}
	c.o.Scores = &s
	return c
}

// Name returns SenderDomainName.
func (c *SenderDomain) Name() string { return SenderDomainName }

// Stage returns verdict.Mail.
func (c *SenderDomain) Stage() verdict.Stage { return verdict.Mail }

// Check runs CheckSenderDomain on the session's MAIL FROM.
func (c *SenderDomain) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, s.MailFrom)
}

// Evaluate runs CheckSenderDomain on mailFrom with the check's options.
func (c *SenderDomain) Evaluate(ctx context.Context, mailFrom string) verdict.Result {
	return CheckSenderDomain(ctx, c.r, mailFrom, &c.o)
}
