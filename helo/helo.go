// Package helo checks the name a client gives in its HELO or EHLO command
// (RFC 5321 §2.3.5, §4.1.1.1, §4.1.3, §4.1.4): its syntax, its form (a
// fully qualified domain or an address literal that is the client's own
// address), whether it claims to be one of our own hosts, whether it exists
// in the DNS, and whether it is consistent with the client's address and
// forward-confirmed reverse name.
//
// RFC 5321 §4.1.4 forbids refusing a message because the HELO name does
// not match the client, and the reference systems (Haraka helo.checks,
// rspamd hfilter, Postfix's HELO restrictions in their defaults) only
// record or score what they find. So does this package: every sub-check
// adds its own score (Scores) and names itself in the Reason, and nothing
// demands a rejection. A DNS failure is never held against the client: it
// leaves the DNS sub-checks undecided.
package helo

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"

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
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// Check checks name, the argument of the HELO or EHLO command of the client
// at ip, with o (nil for the defaults), and reports each sub-check that
// fired, in order, with its score:
//
//   - invalid: Parse refuses it (empty, spaces, control bytes, bad labels,
//     too long, a malformed literal);
//   - bare-ip: an address without brackets;
//   - literal-mismatch: an address literal that is not ip (an IPv4-mapped
//     form counts as the IPv4 address; the match is exact, where Haraka by
//     default accepts the client's /24);
//   - localhost: "localhost", "localhost.localdomain" or a name under
//     ".localhost" (RFC 6761 §6.3);
//   - forged-local: one of o.LocalNames or a name below one;
//   - not-fqdn: no dot (RFC 5321 §2.3.5 asks for a fully qualified name);
//   - private-tld: a top-level domain for private use or special use
//     (.local, .lan, .home, .corp, .internal, .test, .example, .invalid,
//     .onion, .arpa, ...). Haraka tolerates such names, rspamd gives them
//     its heaviest HELO weight; this package takes the middle: a small
//     score, since the name is misconfigured rather than forged, and no
//     DNS query, since the public DNS cannot answer for it;
//   - unknown-tld: a top-level domain the public suffix list does not
//     know (Haraka's valid_hostname), with no DNS query;
//   - dynamic: the name spells out ip the way access providers name the
//     addresses of dynamic or end-user pools ("c-76-121-96-159.hsd1.wa.comcast.net"
//     from 76.121.96.159; dotted, dashed, reversed, zero-padded, hex, IPv6
//     groups or nibbles; the rules of fcrdns.Generic), and its host part
//     is not marked "static" or "business": a mail server names itself,
//     an end-user machine takes the name its provider gave the address
//     (Haraka's helo.checks dynamic, rspamd's hfilter HELO patterns). It
//     is not judged for a private or other non-global client, as Haraka
//     skips them. Such a name resolving to ip proves nothing, so
//     consistent does not fire with it;
//   - no-dns: the name has no A, AAAA or MX record (NXDOMAIN or NODATA);
//   - consistent: an address of the name is ip, or the name equals or
//     shares the registrable domain (public suffix list, ICANN and private
//     sections) of the client's confirmed rDNS name (Checker.Evaluate's
//     clientName; Check has none), as Haraka's rdns_match and Exim's
//     verify = helo accept; its score is negative;
//   - inconsistent: the name resolves, but not to ip, and does not match
//     the rDNS name. As in rspamd, this is judged only once both the A and
//     the AAAA answers are in and neither failed, and it does not fire
//     together with no-dns.
//
// The sub-checks after unknown-tld look up the name's A and AAAA records
// in parallel, and its MX records only if it has neither. A DNS failure
// leaves no-dns and inconsistent undecided, and the Err of the result is
// set; no score comes from it.
//
// Status is Fail if a sub-check with a positive score fired, else
// TempError if a DNS failure left the check undecided and no sub-check
// fired, else Pass. On Pass with a domain HELO, Domain holds the
// normalized name. A client in o.TrustedNets gets None, unchecked.
func Check(ctx context.Context, r Resolver, ip netip.Addr, name string, o *Options) verdict.Result {
	return New(r, o).Evaluate(ctx, ip, name, "")
}

// check is Check with the Checker's settings and the client's rDNS name.
func (c *Checker) check(ctx context.Context, ip netip.Addr, name, clientName string) verdict.Result {
	ip = ip.Unmap().WithZone("")
	res := verdict.Result{Check: Name}
	if c.trusted.Contains(ip) {
		res.Reason = "client " + ip.String() + " is in the trusted networks; HELO not checked"
		return res
	}

	var f findings
	n, perr := Parse(name)
	switch n.Kind {
	case Invalid:
		f.add("invalid", perr.Error(), c.scores.Invalid)
	case BareIP:
		f.add("bare-ip", "an address literal needs brackets", c.scores.BareIP)
	case Literal:
		if n.Addr.Unmap() != ip {
			f.add("literal-mismatch", "the client is "+ip.String(), c.scores.LiteralMismatch)
		}
	case Domain:
		res.Err = c.checkDomain(ctx, ip, n.Domain, clientName, &f)
	}

	res.Score = f.score
	switch {
	case f.positive:
		res.Status = verdict.Fail
	case res.Err != nil && len(f.fired) == 0:
		res.Status = verdict.TempError
	default:
		res.Status = verdict.Pass
		res.Err = nil
		if n.Kind == Domain {
			res.Domain = n.Domain
		}
	}
	res.Reason = f.reason(name, res.Err)
	return res
}

// checkDomain runs the sub-checks of a domain HELO and returns the DNS
// failure that left some undecided.
func (c *Checker) checkDomain(ctx context.Context, ip netip.Addr, name, clientName string, f *findings) error {
	sc := &c.scores
	if name == "localhost" || name == "localhost.localdomain" || strings.HasSuffix(name, ".localhost") {
		f.add("localhost", "", sc.Localhost)
		return nil
	}
	if local := localName(name, c.localNames); local != "" {
		f.add("forged-local", "we are "+local, sc.ForgedLocal)
		return nil
	}
	if !strings.Contains(name, ".") {
		f.add("not-fqdn", "", sc.NotFQDN)
		return nil
	}
	if privateTLD(name) {
		f.add("private-tld", "", sc.PrivateTLD)
		return nil
	}
	if suffix, icann := publicsuffix.PublicSuffix(name); !icann && !strings.Contains(suffix, ".") {
		f.add("unknown-tld", "", sc.UnknownTLD)
		return nil
	}
	dynamic := false
	if netset.Public(ip) {
		if rule, ok := generic.Address(ip, name); ok {
			f.add("dynamic", rule, sc.Dynamic)
			dynamic = true
		}
	}

	d := resolve(ctx, c.r, name, ip)
	client := ""
	if clientName != "" {
		client, _ = dnsname.Normalize(clientName)
	}
	switch {
	case dynamic && (d.match || client != "" && sameDomain(name, client)):
		// The provider's name for the address: it resolves to the
		// client and sits in the client's rDNS domain by construction.
	case d.match:
		f.add("consistent", "resolves to "+ip.String(), sc.Consistent)
	case client != "" && sameDomain(name, client):
		f.add("consistent", "matches rDNS name "+client, sc.Consistent)
	case d.exists && d.err == nil:
		detail := "does not resolve to " + ip.String()
		if client != "" {
			detail += " and is not in the domain of rDNS name " + client
		}
		f.add("inconsistent", detail, sc.Inconsistent)
	}
	if !d.exists && d.err == nil {
		f.add("no-dns", "no A, AAAA or MX record", sc.NoDNS)
	}
	return d.err
}

// dnsFacts is what the DNS says about a HELO name.
type dnsFacts struct {
	exists bool  // it has A, AAAA or MX records
	match  bool  // one of its addresses is the client's
	err    error // the first lookup failure (not a not-found answer)
}

func resolve(ctx context.Context, r Resolver, name string, ip netip.Addr) dnsFacts {
	// The trailing dot keeps a system resolver from trying search domains.
	fq := name + "."
	var (
		six    []netip.Addr
		err6   error
		done   = make(chan struct{})
		d      dnsFacts
		errAny = func(err error) {
			if err != nil && !dnserr.NotFound(err) && d.err == nil {
				d.err = err
			}
		}
	)
	go func() {
		six, err6 = r.LookupNetIP(ctx, "ip6", fq)
		close(done)
	}()
	four, err4 := r.LookupNetIP(ctx, "ip4", fq)
	<-done
	errAny(err4)
	errAny(err6)
	for _, list := range [2][]netip.Addr{four, six} {
		for _, a := range list {
			d.exists = true
			if a.Unmap().WithZone("") == ip {
				d.match = true
			}
		}
	}
	if !d.exists && d.err == nil {
		mx, err := r.LookupMX(ctx, fq)
		d.exists = len(mx) > 0
		if !d.exists {
			errAny(err)
		}
	}
	return d
}

// sameDomain reports whether a and b, both normalized, are equal or have
// the same registrable domain.
func sameDomain(a, b string) bool {
	if a == b {
		return true
	}
	ra, err := publicsuffix.EffectiveTLDPlusOne(a)
	if err != nil {
		return false
	}
	rb, err := publicsuffix.EffectiveTLDPlusOne(b)
	return err == nil && ra == rb
}

// localName returns the entry of locals (normalized) that name equals or
// lies below, or "".
func localName(name string, locals []string) string {
	for _, l := range locals {
		if dnsname.IsSubdomain(name, l) {
			return l
		}
	}
	return ""
}

// privateTLD reports whether name is under a top-level domain that the
// public DNS does not answer for: special-use names (RFC 6761, RFC 7686
// .onion, RFC 8375 home.arpa, and .arpa at large, which holds no hosts),
// ICANN's private-use .internal, and the private suffixes in common use
// that ICANN will not delegate because of name collisions (.lan, .home,
// .corp, ...), which rspamd's hfilter lists too.
func privateTLD(name string) bool {
	switch name[strings.LastIndexByte(name, '.')+1:] {
	case "local", "localdomain", "lan", "home", "corp", "internal", "intranet", "intra", "priv", "private",
		"test", "example", "invalid", "onion", "arpa":
		return true
	}
	return false
}

// findings collects the sub-checks that fired.
type findings struct {
	fired    []string // "check" or "check (detail)"
	score    float64
	positive bool
}

func (f *findings) add(check, detail string, score float64) {
	if detail != "" {
		check += " (" + detail + ")"
	}
	f.fired = append(f.fired, check)
	f.score += score
	f.positive = f.positive || score > 0
}

// maxShown bounds the HELO name in a Reason.
const maxShown = 80

// reason renders the findings as one line: "HELO name: check (detail),
// check; DNS not judged: error".
func (f *findings) reason(name string, err error) string {
	var b strings.Builder
	b.WriteString("HELO ")
	if name == "" {
		b.WriteString(`""`)
	} else {
		// Keep room for the findings: a name may be 255 octets.
		b.WriteString(verdict.PrintableN(name, maxShown))
	}
	b.WriteString(": ")
	if len(f.fired) == 0 {
		b.WriteString("ok")
	}
	b.WriteString(strings.Join(f.fired, ", "))
	if err != nil {
		b.WriteString("; DNS not judged: " + dnserr.Reason(err))
	}
	return verdict.Printable(b.String())
}
