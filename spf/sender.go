package spf

import (
	"context"
	"github.com/mtaguard/mtaguard/internal/dnserr"
	"net"
	"strings"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// SenderOptions change how CheckSenderDomain judges. A nil *SenderOptions
// means the defaults.
type SenderOptions struct {
	// RejectUnknown makes an unknown sender domain a permanent refusal,
	// 550 5.1.8. By default it is a temporary one, 450 4.1.8, as in
	// Postfix (unknown_address_reject_code): a domain whose DNS is
	// briefly broken can look unknown, and the client will retry.
	RejectUnknown bool
	// ScoreOnly makes the check demand nothing: an unknown domain or a
	// null MX only adds its score.
	ScoreOnly bool
	// Scores replaces DefaultSenderScores.
	Scores *SenderScores
}

// SenderScores are the scores of CheckSenderDomain's failures. The other
// results score 0.
type SenderScores struct {
	Unknown, NullMX float64
}

// DefaultSenderScores are the scores used when SenderOptions.Scores is
// nil. Both are strong signals: no reply can reach a sender whose domain
// does not exist or accepts no mail.
var DefaultSenderScores = SenderScores{Unknown: 5, NullMX: 6}

// CheckSenderDomain tells whether the domain of the envelope sender
// mailFrom exists and accepts mail, as Postfix's
// reject_unknown_sender_domain does: it is unknown when it has neither MX
// nor address records (or does not exist), and it accepts no mail when
// it publishes a null MX (RFC 7505). The result's Check is
// "sender-domain" and its Domain the domain looked at; the null sender
// and address literals give None.
//
//   - exists (MX records, or addresses for an implicit MX, RFC 5321
//     §5.1): Pass;
//   - null MX: Fail, demanding Reject with 550 5.7.27 (RFC 7505 §4.2);
//   - unknown: Fail, demanding TempFail with 450 4.1.8, or Reject with
//     550 5.1.8 under RejectUnknown (RFC 3463);
//   - DNS failure: TempError, no demand.
func CheckSenderDomain(ctx context.Context, r Resolver, mailFrom string, o *SenderOptions) verdict.Result {
	var opt SenderOptions
	if o != nil {
		opt = *o
	}
	if opt.Scores == nil {
		s := DefaultSenderScores
		opt.Scores = &s
	}
	res := verdict.Result{Check: "sender-domain"}
	mailFrom = strings.TrimSuffix(strings.TrimPrefix(mailFrom, "<"), ">")
	if mailFrom == "" {
		res.Reason = "null sender"
		return res
	}
	_, domain := splitSender(mailFrom)
	if strings.HasPrefix(domain, "[") {
		res.Reason = "sender domain is an address literal"
		return res
	}
	name, err := dnsname.Normalize(domain)
	if err != nil {
		res.Domain = verdict.Printable(domain)
		return unknownSender(res, opt, "sender domain "+res.Domain+" is not a valid domain name")
	}
	res.Domain = name

	mxs, err := r.LookupMX(ctx, name)
	if err != nil && len(mxs) == 0 && !dnserr.NotFound(err) {
		return senderTempError(res, err)
	}
	if len(mxs) > 0 {
		if isNullMX(mxs) {
			res.Status, res.Score = verdict.Fail, opt.Scores.NullMX
			res.Reason = "sender domain " + name + " accepts no mail (null MX)"
			if !opt.ScoreOnly {
				res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.7.27"
			}
			return res
		}
		res.Status = verdict.Pass
		res.Reason = "sender domain " + name + " has MX records"
		return res
	}
	// No MX: the domain's addresses are its implicit MX (RFC 5321 §5.1).
	ips, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil && !dnserr.NotFound(err) {
		return senderTempError(res, err)
	}
	if len(ips) > 0 {
		res.Status = verdict.Pass
		res.Reason = "sender domain " + name + " has addresses"
		return res
	}
	return unknownSender(res, opt, "sender domain "+name+" has no MX or address records")
}

// isNullMX reports whether the MX records are a null MX: one record whose
// exchange is the root (RFC 7505 §3). Mixed with other records it is a
// misconfiguration, and the other records are used.
func isNullMX(mxs []*net.MX) bool {
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			return false
		}
	}
	return true
}

func unknownSender(res verdict.Result, o SenderOptions, reason string) verdict.Result {
	res.Status, res.Score, res.Reason = verdict.Fail, o.Scores.Unknown, reason
	switch {
	case o.ScoreOnly:
	case o.RejectUnknown:
		res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.1.8"
	default:
		res.Action, res.Code, res.Enhanced = verdict.TempFail, 450, "4.1.8"
	}
	return res
}

func senderTempError(res verdict.Result, err error) verdict.Result {
	res.Status, res.Err = verdict.TempError, err
	res.Reason = "DNS failure looking up sender domain " + res.Domain
	return res
}

// SenderDomain is CheckSenderDomain as a verdict.Check at the Mail stage.
type SenderDomain struct {
	r Resolver
	o SenderOptions
}

// NewSenderDomain returns a check of the session's sender domain.
func NewSenderDomain(r Resolver, o *SenderOptions) *SenderDomain {
	c := &SenderDomain{r: r}
	if o != nil {
		c.o = *o
	}
	return c
}

// Name returns "sender-domain".
func (c *SenderDomain) Name() string { return "sender-domain" }

// Stage returns verdict.Mail.
func (c *SenderDomain) Stage() verdict.Stage { return verdict.Mail }

// Check runs CheckSenderDomain on the session's MAIL FROM.
func (c *SenderDomain) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return CheckSenderDomain(ctx, c.r, s.MailFrom, &c.o)
}
