// Package dmarc decides whether a message's author domain, the domain of
// its From field, is aligned with a domain that SPF or DKIM authenticated,
// and what that domain's DMARC policy asks for when it is not (RFC 9989,
// DMARCbis).
//
// Policies are discovered by the DNS tree walk of RFC 9989 §4.10: the
// record at _dmarc.<author domain>, else the one of its organizational
// domain, else that of its public suffix domain (a record with psd=y), the
// walk asking at most eight names, all at once, so discovery costs one DNS
// round trip. The organizational domains that relaxed alignment compares
// come from the same walk (psd=n and psd=y mark the boundaries; otherwise
// the highest name with a record). Options.PublicSuffixList selects RFC
// 7489 instead: the public suffix list (OrgDomain) and pct= sampling.
//
// Records are read leniently, as both RFCs ask: tags in any order after
// v=DMARC1, unknown or malformed tags ignored, an invalid optional tag
// (adkim=bob, pct=500) at its default, so a typo does not switch a
// p=reject off. Under RFC 9989, t=y applies the next weaker disposition,
// and pct=, rf= and ri= are ignored: a record "p=reject; pct=0" rejects
// (RFC 9989 Appendix A.6 replaces pct=0 by t=y); under PublicSuffixList
// pct= is sampled as RFC 7489 §6.6.4 says. A DNS failure that could change
// the outcome is TempError, never a pass or a fail.
//
// Check takes the SPF and DKIM results as the spf and dkim packages
// produce them, reading only their Auth entries, so the packages stay
// independent. The Checker reads every author domain of a message (see
// Authors) and applies the strictest outcome, so a second From field or a
// malformed one cannot make a forged message safer. Aggregate report data
// (RFC 9990) is recorded through Options.Store and written by WriteReport.
package dmarc

import (
	"context"
	"net"
	"net/netip"

	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver looks up DMARC records, and the MX, A and AAAA records that say
// whether an author domain exists (for np=). Its errors follow
// [verdict.Resolver]; *net.Resolver satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Check evaluates DMARC for the author domain fromDomain (see Authors)
// with the default options, given the results of the spf and dkim checks
// (any results may be given: only their *authres.SPFResult and
// *authres.DKIMResult entries are read). See Checker.Evaluate.
func Check(ctx context.Context, r Resolver, fromDomain string, results ...verdict.Result) verdict.Result {
	return New(r, nil).Evaluate(ctx, fromDomain, results...)
}
