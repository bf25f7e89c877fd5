// Package verify decides whether the addresses of a mail transaction can
// receive mail: whether the sender's domain exists and accepts mail
// (CheckSenderDomain), and whether the server responsible for an address,
// asked by an SMTP callout, accepts it (Callout.Verify).
//
// CheckSenderDomain is Postfix's reject_unknown_sender_domain: a sender
// whose domain has no MX or address records, or publishes a null MX (RFC
// 7505), cannot receive the bounce of the message, so accepting it only
// creates backscatter.
//
// A callout is Postfix's verify(8) (reject_unverified_sender and
// reject_unverified_recipient) and Exim's "verify = sender/callout": the
// probe connects to the address's MX hosts, says EHLO, MAIL FROM:<>, RCPT
// TO:<address>, then RCPT TO a random local part of the same domain to tell
// a catch-all domain (which accepts anything, so says nothing), and QUIT;
// it never sends DATA, so no message is ever delivered. NewSender runs it
// on the envelope sender at the Mail stage, NewRecipient on each recipient
// at the Rcpt stage, typically for the domains a border MX relays inward
// (Callout.Route pointing at the inside server) so that mail for users who
// do not exist is refused during the SMTP dialogue instead of bounced
// later. NewTable refuses recipients that are not in a table of the
// caller's (Postfix's reject_unlisted_recipient) without a probe.
//
// Probes are costly for the probed server and can be abused to make us
// hammer one, so a Callout caches results (positive ones for 31 days,
// negative ones for 3 days, as Postfix does), shares one probe among all
// the callers that verify the same address at the same time, limits the
// probes in flight and their rate per domain, and never probes loopback,
// private, link-local or its own addresses found in the DNS.
package verify

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/mtaguard/mtaguard/internal/address"
	"github.com/mtaguard/mtaguard/internal/dnserr"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver is the DNS lookups of the package: the MX hosts of a domain and
// the addresses of a host. Its methods are a subset of *net.Resolver's. Its
// errors follow [verdict.Resolver].
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// SenderDomainOptions change how CheckSenderDomain judges. A nil
// *SenderDomainOptions means the defaults.
type SenderDomainOptions struct {
	// RejectUnknown makes an unknown sender domain a permanent refusal,
	// 550 5.1.8. By default it is a temporary one, 450 4.1.8, as in
	// Postfix (unknown_address_reject_code): a domain whose DNS is
	// briefly broken can look unknown, and the client will retry.
	RejectUnknown bool
	// ScoreOnly makes the check demand nothing: an invalid address, an
	// unknown domain or a null MX only adds its score.
	ScoreOnly bool
	// Scores replaces DefaultSenderDomainScores.
	Scores *SenderDomainScores
}

// SenderDomainScores are the scores of CheckSenderDomain's failures. The
// other results score 0.
type SenderDomainScores struct {
	Invalid, Unknown, NullMX float64
}

// DefaultSenderDomainScores are the scores used when
// SenderDomainOptions.Scores is nil. All are strong signals: no reply can
// reach a sender whose address is malformed, whose domain does not exist,
// or which accepts no mail.
var DefaultSenderDomainScores = SenderDomainScores{Invalid: 5, Unknown: 5, NullMX: 6}

// CheckSenderDomain tells whether the envelope sender mailFrom is an
// address whose domain exists and accepts mail, as Postfix's
// reject_unknown_sender_domain does: it is unknown when it has neither MX
// nor address records (or does not exist), and it accepts no mail when it
// publishes a null MX (RFC 7505). The result's Check is SenderDomainName
// and its Domain the domain looked at; the null sender and address
// literals give None.
//
//   - exists (MX records, or addresses for an implicit MX, RFC 5321
//     §5.1): Pass;
//   - not an address (no '@', an empty local part, a domain that is not a
//     valid domain name): Fail, demanding Reject with 501 5.1.7, as
//     Postfix answers a sender of bad syntax (RFC 3463: "bad sender's
//     mailbox address syntax"); it is permanent, since a retry cannot
//     mend it;
//   - null MX: Fail, demanding Reject with 550 5.7.27 (RFC 7505 §4.2);
//   - unknown: Fail, demanding TempFail with 450 4.1.8, or Reject with
//     550 5.1.8 under RejectUnknown (RFC 3463);
//   - DNS failure: TempError, no demand.
func CheckSenderDomain(ctx context.Context, r Resolver, mailFrom string, o *SenderDomainOptions) verdict.Result {
	var opt SenderDomainOptions
	if o != nil {
		opt = *o
	}
	if opt.Scores == nil {
		s := DefaultSenderDomainScores
		opt.Scores = &s
	}
	res := verdict.Result{Check: SenderDomainName}
	addr := strings.TrimSuffix(strings.TrimPrefix(mailFrom, "<"), ">")
	if addr == "" {
		res.Reason = "null sender"
		return res
	}
	local, domain, ok := address.Split(addr)
	if ok && strings.HasPrefix(domain, "[") {
		res.Reason = "sender domain is an address literal"
		return res
	}
	name, err := dnsname.Normalize(domain)
	if !ok || local == "" || err != nil {
		res.Domain = verdict.Printable(domain)
		res.Status, res.Score = verdict.Fail, opt.Scores.Invalid
		res.Reason = "sender address " + verdict.Printable(addr) + " has bad syntax"
		if !opt.ScoreOnly {
			res.Action, res.Code, res.Enhanced = verdict.Reject, 501, "5.1.7"
		}
		return res
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
	res.Status, res.Score = verdict.Fail, opt.Scores.Unknown
	res.Reason = "sender domain " + name + " has no MX or address records"
	switch {
	case opt.ScoreOnly:
	case opt.RejectUnknown:
		res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.1.8"
	default:
		res.Action, res.Code, res.Enhanced = verdict.TempFail, 450, "4.1.8"
	}
	return res
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

func senderTempError(res verdict.Result, err error) verdict.Result {
	res.Status, res.Err = verdict.TempError, err
	res.Reason = "DNS failure looking up sender domain " + res.Domain + ": " + dnserr.Reason(err)
	return res
}
