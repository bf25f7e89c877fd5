package verdict

import (
	"context"
	"net"
	"net/netip"
)

// Resolver is the error contract that every check package's own Resolver
// interface follows; each of those declares only the methods it needs, all
// of them methods of *net.Resolver, so net.DefaultResolver, package
// resolver and package resolvertest satisfy every one. Resolver itself
// lists the methods the checks use together; verdict uses none of them.
//
// Errors are *net.DNSError. One with IsNotFound set means the name does
// not exist (NXDOMAIN) or has no record of the type asked for: that is an
// answer, and checks treat it as evidence ("no PTR record", "no SPF
// record"). Any other error is a failure to get an answer (a timeout,
// SERVFAIL, REFUSED, a broken reply) and is never evidence: the check
// reports TempError, adds at most a small score and never demands Reject
// for it, since the sender may be doing nothing wrong at all.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

var _ Resolver = net.DefaultResolver
