// Package spf decides whether a client may send mail for a domain, by the
// Sender Policy Framework (RFC 7208).
//
// The evaluation is blitiri.com.ar/go/spf's. This package feeds it through
// the caller's Resolver and adds what the library leaves out: every SPF
// record is checked against the grammar of RFC 7208 before the library
// acts on any of it (§4.6: a syntax error anywhere is permerror, even
// after a matching mechanism); the domain to check is validated first
// (§4.3); the DNS questions of one check are bounded by the limits of
// §4.6.4, including the records this package fetches ahead; a fail carries
// the domain's own explanation (exp=, §6.2); and results are scored for
// verdict, with a Received-SPF header field (§9.1) to record them.
package spf

import (
	"context"
	"net"
	"net/netip"

	"github.com/mtaguard/mtaguard/verdict"
)

// Check returns the SPF result for the MAIL FROM identity (RFC 7208 §2.4):
// whether ip may send mail with envelope sender mailFrom, or, for the null
// sender (mailFrom "" or "<>"), as postmaster@helo. It uses the default
// Options; see Checker for the others.
func Check(ctx context.Context, r Resolver, ip netip.Addr, helo, mailFrom string) verdict.Result {
	return New(r, nil).Evaluate(ctx, ip, helo, mailFrom)
}

// CheckHelo returns the SPF result for the HELO identity (RFC 7208 §2.3):
// whether ip may use the name helo. A HELO that is no domain name (an
// address literal, a single label) gives None.
func CheckHelo(ctx context.Context, r Resolver, ip netip.Addr, helo string) verdict.Result {
	return New(r, nil).EvaluateHelo(ctx, ip, helo)
}

// Resolver is the DNS lookups the package needs. Its methods are a subset
// of *net.Resolver's, so net.DefaultResolver, *resolver.Resolver and
// *resolvertest.Resolver all satisfy it. Its errors follow
// [verdict.Resolver]: any error but a not-found answer is a failure,
// which makes a temperror, never a fail.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}
