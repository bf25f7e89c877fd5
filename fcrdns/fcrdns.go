// Package fcrdns checks forward-confirmed reverse DNS: whether the client's
// IP address has a PTR name whose address records lead back to it. This is
// the "iprev" authentication method of RFC 8601 §3, the test behind
// Postfix's reject_unknown_client_hostname, Exim's verify =
// reverse_host_lookup and Haraka's fcrdns plugin.
//
// The check also judges the name itself: an access provider's name for a
// dynamic or end-user address (the address embedded in it, or words such as
// "dsl" or "pool") is a sign that the client is not a mail server; see
// Generic.
//
// Like the reference systems, the check demands nothing by itself: it
// scores, and the policy decides.
package fcrdns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/internal/dnserr"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/generic"
	"github.com/mtaguard/mtaguard/internal/netset"
	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver is the part of *net.Resolver the check uses.
// net.DefaultResolver, *resolver.Resolver and *resolvertest.Resolver all
// satisfy it. Its errors follow [verdict.Resolver].
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// MaxNames is how many PTR names are forward-checked. A client's address
// rarely has more than one; a longer list is either a mistake or an attempt
// to make the receiver do work, and RFC 7208 §5.5 stops the SPF "ptr"
// mechanism at the same number.
const MaxNames = 10

// Check looks up the PTR names of ip and the addresses of those names, and
// reports, in the terms of RFC 8601 §3 (iprev):
//
//   - Pass when a name resolves back to ip; the Reason names it and Domain
//     holds it (lower case, no trailing dot) for later checks such as helo;
//   - PermError when ip has no PTR record;
//   - Fail when it has PTR names but none resolves back to it (no address,
//     NXDOMAIN or other addresses);
//   - TempError when a DNS failure prevents the answer: on the PTR lookup,
//     or on a forward lookup when no other name confirms.
//
// An IPv4-mapped IPv6 address is checked as the IPv4 address. The forward
// lookups of up to MaxNames names run in parallel and ask only for the
// client's address family, so a check costs about two lookup latencies.
//
// The match must be exact. Haraka also passes a forward address in the
// client's /24; Postfix, Exim and RFC 8601 do not, and neither does this
// check: a neighbour's name vouches for the neighbour only.
//
// Auth holds one iprev result with policy.iprev set to ip. The score comes
// from DefaultScores, plus Generic's score when the name looks like an
// access provider's (the confirmed name on Pass, any PTR name on Fail).
// Private and other non-global addresses are not looked up: the result is
// None with no score. Use New with Options to change either.
func Check(ctx context.Context, r Resolver, ip netip.Addr) verdict.Result {
	return New(r, nil).Evaluate(ctx, ip)
}

func check(ctx context.Context, r Resolver, ip netip.Addr, nonGlobal bool, sc *Scores) verdict.Result {
	ip = ip.Unmap().WithZone("")
	res := verdict.Result{Check: Name}
	if !ip.IsValid() {
		res.Reason = "no client address"
		return res
	}
	if !nonGlobal && !netset.Public(ip) {
		res.Reason = "not checked: " + ip.String() + " is not a global address"
		return res
	}
	addr := ip.String()

	ptrs, err := r.LookupAddr(ctx, addr)
	// net.Resolver returns the well-formed names together with an error
	// when some PTR records hold malformed ones: the good names still count.
	if err != nil && len(ptrs) == 0 && !malformed(err) {
		if dnserr.NotFound(err) {
			res.Status, res.Score = verdict.PermError, sc.PermError
			res.Reason = "no PTR record for " + addr
		} else {
			res.Status, res.Score = verdict.TempError, sc.TempError
			res.Reason = verdict.Printable("DNS error looking up the PTR record of " + addr + ": " + dnserr.Reason(err))
			res.Err = err
		}
		res.Auth = auth(res.Status, addr)
		return res
	}
	if len(ptrs) == 0 && err == nil {
		res.Status, res.Score = verdict.PermError, sc.PermError
		res.Reason = "no PTR record for " + addr
		res.Auth = auth(res.Status, addr)
		return res
	}

	names := normalizeNames(ptrs)
	if len(names) == 0 {
		res.Status, res.Score = verdict.Fail, sc.Fail
		res.Reason = "the PTR record of " + addr + " holds no valid host name"
		res.Auth = auth(res.Status, addr)
		return res
	}

	confirmed, ferr := confirm(ctx, r, ip, names)
	switch {
	case confirmed != "":
		res.Status, res.Score, res.Domain = verdict.Pass, sc.Pass, confirmed
		res.Reason = addr + " has forward-confirmed name " + confirmed
		if rule, ok := generic.Name(ip, confirmed); ok {
			res.Score += sc.Generic
			res.Reason += "; generic name: " + rule
		}
	case ferr != nil:
		res.Status, res.Score, res.Err = verdict.TempError, sc.TempError, ferr
		res.Reason = "DNS error confirming the PTR names of " + addr + ": " + dnserr.Reason(ferr)
	default:
		res.Status, res.Score = verdict.Fail, sc.Fail
		res.Reason = "no PTR name of " + addr + " resolves back to it (" + nameList(names) + ")"
		for _, n := range names {
			if rule, ok := generic.Name(ip, n); ok {
				res.Score += sc.Generic
				res.Reason += "; generic name: " + verdict.Printable(n) + ": " + rule
				break
			}
		}
	}
	res.Auth = auth(res.Status, addr)
	res.Reason = verdict.Printable(res.Reason)
	return res
}

// normalizeNames returns the valid, distinct PTR names, normalized, at most
// MaxNames of them.
func normalizeNames(ptrs []string) []string {
	names := make([]string, 0, min(len(ptrs), MaxNames))
	for _, p := range ptrs {
		n, err := dnsname.Normalize(p)
		if err != nil || slices.Contains(names, n) {
			continue
		}
		names = append(names, n)
		if len(names) == MaxNames {
			break
		}
	}
	return names
}

// confirm returns the first name found to resolve to ip, or else the first
// DNS failure among the lookups (nil if every name had an answer).
func confirm(ctx context.Context, r Resolver, ip netip.Addr, names []string) (string, error) {
	network := "ip6"
	if ip.Is4() {
		network = "ip4"
	}
	if len(names) == 1 {
		return forward(ctx, r, network, names[0], ip)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the other lookups are no longer needed once one confirms
	type answer struct {
		name string
		err  error
	}
	ch := make(chan answer, len(names))
	for _, n := range names {
		go func() {
			name, err := forward(ctx, r, network, n, ip)
			ch <- answer{name, err}
		}()
	}
	var first error
	for range names {
		a := <-ch
		if a.name != "" {
			return a.name, nil
		}
		if a.err != nil && first == nil {
			first = a.err
		}
	}
	return "", first
}

// forward returns name if one of its addresses is ip; a not-found answer is
// an answer (no addresses), any other error a failure.
func forward(ctx context.Context, r Resolver, network, name string, ip netip.Addr) (string, error) {
	// The trailing dot keeps a system resolver from trying search domains.
	ips, err := r.LookupNetIP(ctx, network, name+".")
	for _, a := range ips {
		if a.Unmap().WithZone("") == ip {
			return name, nil
		}
	}
	if err != nil && !dnserr.NotFound(err) {
		return "", err
	}
	return "", nil
}

func auth(s verdict.Status, addr string) []authres.Result {
	v := authres.ResultValue(authres.ResultFail)
	switch s {
	case verdict.Pass:
		v = authres.ResultPass
	case verdict.TempError:
		v = authres.ResultTempError
	case verdict.PermError:
		v = authres.ResultPermError
	}
	return []authres.Result{&authres.IPRevResult{Value: v, IP: addr}}
}

// malformed reports whether err is net.Resolver's complaint that every
// record held an invalid name: an answer, not a failure.
func malformed(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.Err == "DNS response contained records which contain invalid names"
}

// nameList lists a few names for a Reason.
func nameList(names []string) string {
	const show = 3
	s := strings.Join(names[:min(len(names), show)], ", ")
	if len(names) > show {
		s += ", ..."
	}
	return s
}
