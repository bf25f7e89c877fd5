package resolver

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// answer is the outcome of one (name, type) query, as cached.
type answer struct {
	rcode  int      // dns.RcodeSuccess or dns.RcodeNameError; failures are errors
	rrs    []dns.RR // records of the asked type, CNAMEs followed
	target string   // the canonical name the records belong to, absolute
}

const (
	// maxCNAME bounds a CNAME chain, as recursive resolvers bound theirs:
	// a longer chain is a misconfiguration or an attack.
	maxCNAME = 16
	// servFailTTL is how long, in seconds, a SERVFAIL is cached. RFC 2308
	// §7.1 allows up to five minutes; a mail server wants to retry soon,
	// but not to hammer a broken zone from every session at once.
	servFailTTL = 2
	// noSOATTL is how long a negative answer without an SOA is cached.
	noSOATTL = 5
)

// resolve sends (name, qtype) upstream, follows the CNAME chain through
// the answer and, where the answer stops short of the chain's end, with
// more queries, and caches the outcome.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) (*answer, error) {
	r.stats.queries.Add(1)
	var chain [maxCNAME + 1]string // the names passed, the asked one first
	links := 0
	chain[0] = name + "."
	ttl := uint32(math.MaxUint32) // the smallest TTL of every record used
	for {
		asked := chain[links]
		q := new(dns.Msg)
		q.SetQuestion(asked, qtype)
		q.SetEdns0(1232, false)
		resp, err := r.exchange.Exchange(ctx, q)
		if err != nil {
			r.stats.failures.Add(1)
			return nil, dnsError(name, err)
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		case dns.RcodeServerFailure:
			r.stats.failures.Add(1)
			err := &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
			r.store(cacheKey{name, qtype}, nil, servFailTTL, err)
			return nil, err
		default:
			// net calls REFUSED and the like permanent; for us no DNS
			// failure may become evidence, so it is temporary.
			r.stats.failures.Add(1)
			return nil, &net.DNSError{Err: "server misbehaving: " + dns.RcodeToString[resp.Rcode], Name: name, IsTemporary: true}
		}
		for {
			rrs, next, t := step(resp, chain[links], qtype)
			ttl = min(ttl, t)
			if len(rrs) > 0 {
				a := &answer{rcode: resp.Rcode, rrs: rrs, target: chain[links]}
				r.store(cacheKey{name, qtype}, a, ttl, nil)
				return a, nil
			}
			if next == "" {
				break
			}
			if slices.Contains(chain[:links+1], next) || links == maxCNAME {
				r.stats.failures.Add(1)
				return nil, &net.DNSError{Err: "CNAME loop or chain too long", Name: name, IsTemporary: true}
			}
			links++
			chain[links] = next
		}
		// Nothing more in this answer. It is the answer if it followed no
		// CNAME, or says the chain's end does not exist, or comes from a
		// recursive server, which follows the chain to its end (RFC 1034
		// §4.3.1: an empty answer after a CNAME is NODATA for its
		// target). Otherwise the server may have stopped at its zone's
		// edge, as an authoritative server does: ask for the end.
		if chain[links] == asked || resp.Rcode == dns.RcodeNameError || resp.RecursionAvailable {
			ttl = min(ttl, negativeTTL(resp))
			a := &answer{rcode: resp.Rcode, target: chain[links]}
			r.store(cacheKey{name, qtype}, a, ttl, nil)
			return a, nil
		}
	}
}

// step returns the records of type qtype that the answer m holds for name
// and the smallest of their TTLs; or, when it holds none, the target of
// name's CNAME, lower-case and absolute, and the CNAME's TTL; or nothing
// (and math.MaxUint32).
func step(m *dns.Msg, name string, qtype uint16) (rrs []dns.RR, cname string, ttl uint32) {
	ttl = math.MaxUint32
	cttl := ttl
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
			continue
		}
		if h.Rrtype == qtype {
			if usable(rr) {
				rrs = append(rrs, rr)
				ttl = min(ttl, h.Ttl)
			}
		} else if c, ok := rr.(*dns.CNAME); ok && cname == "" && c.Target != "" {
			cname = strings.ToLower(dns.Fqdn(c.Target))
			cttl = h.Ttl
		}
	}
	if len(rrs) > 0 {
		return rrs, "", ttl
	}
	return nil, cname, cttl
}

// usable reports whether rr is of the Go type its header promises, so that
// the lookup methods' type assertions hold whatever an Exchanger returns,
// and, for an address, holds one.
func usable(rr dns.RR) bool {
	ok := true
	switch rr.Header().Rrtype {
	case dns.TypeA:
		a, isA := rr.(*dns.A)
		ok = isA && a.A.To4() != nil
	case dns.TypeAAAA:
		a, isAAAA := rr.(*dns.AAAA)
		ok = isAAAA && len(a.AAAA) == net.IPv6len
	case dns.TypeTXT:
		_, ok = rr.(*dns.TXT)
	case dns.TypeMX:
		_, ok = rr.(*dns.MX)
	case dns.TypePTR:
		_, ok = rr.(*dns.PTR)
	case dns.TypeCNAME:
		_, ok = rr.(*dns.CNAME)
	}
	return ok
}

// negativeTTL is how long a name error or empty answer may be cached: the
// smaller of the SOA's TTL and its MINIMUM field (RFC 2308 §5). Without an
// SOA it is not cached for long.
func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return noSOATTL
}

func (r *Resolver) store(k cacheKey, a *answer, ttl uint32, err error) {
	if r.cache == nil || ttl == 0 {
		return
	}
	now := r.now()
	r.cache.put(k, a, err, now.Add(min(time.Duration(ttl)*time.Second, r.maxTTL)), now)
}

// dnsError turns an exchange error into the *net.DNSError that callers of
// net expect. The error is never wrapped further: blitiri.com.ar/go/spf and
// go-msgauth classify DNS errors by type assertion.
func dnsError(name string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ctxError(name, err)
	}
	e := &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		e.Err = "i/o timeout"
		e.IsTimeout = true
	}
	return e
}

// ctxError is the error of a lookup whose context ended, as net gives it
// (errors.Is finds the context's error), except that a canceled lookup is
// temporary: it is no answer.
func ctxError(name string, err error) error {
	e := &net.DNSError{UnwrapErr: err, Err: err.Error(), Name: name, IsTemporary: true}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Err = "i/o timeout"
		e.IsTimeout = true
	}
	if errors.Is(err, context.Canceled) {
		e.Err = "operation was canceled"
	}
	return e
}
