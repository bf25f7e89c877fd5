package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mtaguard/mtaguard/internal/dnserr"
)

// libResolver adapts a Resolver to the SPF library's DNSResolver for one
// evaluation. The library tells an answer from a failure only by a type
// assertion on *net.DNSError, so every error it gets is an unwrapped
// *net.DNSError, and anything that is not a not-found answer is marked
// temporary: a wrapped timeout must not become permerror. It also checks
// each SPF record the library is about to use (parseRecord), and keeps the
// records served, in order, for finding the explanation afterwards.
//
// The library makes its lookups one after the other; only the lookups a
// libResolver starts ahead (ahead) run beside them. Every question goes
// through the budget of budget.go.
type libResolver struct {
	r       Resolver
	env     macroEnv  // the evaluation's sender, HELO, address; no domain
	fetched []fetched // the SPF records the library used, in order

	ptrLooked bool     // validated is known (pmacro.go)
	validated []string // validated domain names of env.ip

	queries atomic.Int32 // DNS questions asked, by the library and ahead

	// hosts are the names of the library's last mx or ptr lookup whose
	// addresses it looks up next, in order: those lookups belong to that
	// term.
	hosts []string

	mu          sync.Mutex
	txts        int                   // the library's TXT lookups
	terms       int                   // the library's lookups for terms (all but the first TXT and the host addresses)
	outstanding int                   // lookups started ahead that the library has not used yet
	pending     map[string]*txtAnswer // TXT lookups started ahead, by lower-case name
}

// txtAnswer is a TXT lookup started ahead; txts and err are set before
// done is closed.
type txtAnswer struct {
	done chan struct{}
	txts []string
	err  error
	used bool // the library asked for it
}

// ahead starts the TXT lookups of the include and redirect targets of rec
// that need no macro expansion, all at once, as rspamd does: the library
// evaluates includes one after the other, so a record with two includes
// would otherwise cost three round trips in a row. The library's own
// lookups then take these answers (LookupTXT); its lookup and void-lookup
// limits (RFC 7208 §4.6.4) count what it asks for.
//
// A lookup ahead spends from the same ten terms: it starts only while the
// terms the library has looked up and the lookups ahead it has not used
// yet are fewer than ten. So at most ten are ever made, the price of the
// ones the evaluation never reaches (an include after the one that
// matches, or past the limit) is at most ten questions, and records full
// of includes cannot make one check ask hundreds.
func (a *libResolver) ahead(ctx context.Context, rec *record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	targets := append(rec.includes[:len(rec.includes):len(rec.includes)], rec.redirect)
	for _, t := range targets {
		if a.terms+a.outstanding >= maxTerms {
			return
		}
		if t == "" || strings.Contains(t, "%") {
			continue
		}
		t = strings.ToLower(strings.TrimSuffix(t, "."))
		if _, ok := a.pending[t]; ok {
			continue
		}
		if a.pending == nil {
			a.pending = map[string]*txtAnswer{}
		}
		ta := &txtAnswer{done: make(chan struct{})}
		a.pending[t] = ta
		a.outstanding++
		go func() {
			defer close(ta.done)
			ta.txts, ta.err = a.txt(ctx, t)
		}()
	}
}

// lookupTXT returns the answer fetched ahead for name, or asks for it.
func (a *libResolver) lookupTXT(ctx context.Context, name string) ([]string, error) {
	a.mu.Lock()
	if a.txts++; a.txts > 1 {
		a.terms++ // an include or a redirect
	}
	ta := a.pending[strings.ToLower(strings.TrimSuffix(name, "."))]
	if ta != nil && !ta.used {
		ta.used = true
		a.outstanding--
	}
	a.mu.Unlock()
	if ta == nil {
		return a.txt(ctx, name)
	}
	select {
	case <-ta.done:
		return ta.txts, ta.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// term counts a lookup of the library for a term other than include and
// redirect.
func (a *libResolver) term() {
	a.mu.Lock()
	a.terms++
	a.mu.Unlock()
}

// fetched is an SPF record the library looked up, for the check_host() of
// name.
type fetched struct {
	name string
	rec  *record
}

// dnsError returns err as the library must see it: the *net.DNSError it
// holds, unwrapped, with anything but a not-found made temporary.
func dnsError(name string, err error) error {
	var de *net.DNSError
	if !errors.As(err, &de) {
		return &net.DNSError{
			Err:         err.Error(),
			Name:        name,
			IsTemporary: true,
			IsTimeout:   errors.Is(err, context.DeadlineExceeded),
		}
	}
	if de.IsNotFound || de.Temporary() {
		return de
	}
	// A malformed answer and the like: a failure, not an answer.
	c := *de
	c.IsTemporary = true
	return &c
}

func (a *libResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := a.lookupTXT(ctx, name)
	if err != nil {
		return nil, dnsError(name, err)
	}
	// Select the SPF record as the library will (RFC 7208 §4.5); when
	// there is exactly one, it must parse, or the library is not to see
	// it. Any error other than *net.DNSError makes the library return
	// permerror with that error, for this record and, through include and
	// redirect, for the whole evaluation: what §4.6 asks for.
	at, n := 0, 0
	for i, t := range txts {
		if isSPF(t) {
			at = i
			n++
		}
	}
	if n != 1 {
		return txts, nil
	}
	rec, err := parseRecord(txts[at])
	if err != nil {
		return nil, err
	}
	a.fetched = append(a.fetched, fetched{name, rec})
	a.ahead(ctx, rec)
	if hasP(txts[at]) {
		txts = append([]string(nil), txts...)
		txts[at] = a.expandP(ctx, txts[at], name)
	}
	return txts, nil
}

func (a *libResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	a.term()
	a.hosts = nil
	mxs, err := a.mx(ctx, name)
	if len(mxs) <= maxNames {
		// The library looks up the addresses of these next (of more,
		// none: §4.6.4 makes that a permerror).
		for _, mx := range mxs {
			a.hosts = append(a.hosts, mx.Host)
		}
	}
	if err != nil && len(mxs) == 0 {
		return nil, dnsError(name, err)
	}
	// net leaves out MX records whose host is not a valid name and
	// reports the others with an error; the library uses those.
	return mxs, nil
}

// LookupIPAddr answers the library's address lookups (the a, mx, ptr and
// exists mechanisms). RFC 7208 §5.3 asks for "A or AAAA as appropriate for
// the connection type", and a failure of that query is a temperror (§5);
// net's LookupIPAddr asks for both and drops the failure of one when the
// other answers, which would turn a SERVFAIL on A into a fail for an IPv4
// client. So an IPv4 client gets the A query alone. exists always asks
// for A (§5.7), so an IPv6 client gets both, and a failure of either is
// an error: the library does not say which mechanism asked, and a
// temperror defers where a wrong fail would refuse. The addresses of the
// names of an mx or ptr term are the exception, known by their names
// (hosts): those terms look for the client's own family (§5.4, §5.5), so
// an IPv6 client gets the AAAA query alone, which keeps each such term to
// the ten address questions of §4.6.4.
func (a *libResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if len(a.hosts) > 0 && sameName(a.hosts[0], host) {
		a.hosts = a.hosts[1:]
		ips, err := a.netIP(ctx, family(a.env.ip), host)
		if err != nil {
			return nil, dnsError(host, err)
		}
		return ipAddrs(ips), nil
	}
	a.hosts = nil
	a.term()
	ips, err := a.netIP(ctx, "ip4", host)
	if a.env.ip.Unmap().Is6() {
		ips6, err6 := a.netIP(ctx, "ip6", host)
		switch {
		case err6 != nil && !dnserr.NotFound(err6):
			err = err6
		case err != nil && !dnserr.NotFound(err):
		case len(ips6) > 0:
			ips, err = append(ips6, ips...), nil
		}
	}
	if err != nil {
		return nil, dnsError(host, err)
	}
	return ipAddrs(ips), nil
}

func ipAddrs(ips []netip.Addr) []net.IPAddr {
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip.AsSlice()}
	}
	return out
}

// family is the LookupNetIP network of ip's address family.
func family(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return "ip4"
	}
	return "ip6"
}

func (a *libResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	a.term()
	names, err := a.addr(ctx, addr)
	// The library looks up the addresses of the first ten next (§4.6.4).
	a.hosts = names[:min(len(names), maxNames):min(len(names), maxNames)]
	if err != nil && len(names) == 0 {
		return nil, dnsError(addr, err)
	}
	// As for MX: net leaves out PTR names that are not valid host names
	// and returns the rest with an error, on which the library would
	// ignore all of them. RFC 7208 §5.5 only skips the bad ones.
	return names, nil
}
