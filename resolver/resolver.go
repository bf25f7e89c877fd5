// Package resolver is a DNS stub resolver built on github.com/miekg/dns for
// mtaguard's checks: it has the lookup methods of *net.Resolver that the
// checks use, with the same signatures and the same error classes
// (*net.DNSError with IsNotFound, IsTimeout, IsTemporary), and adds what a
// border MTA under load needs and net does not give: a bounded cache that
// honours TTLs and caches negative answers (RFC 2308), one upstream query
// for identical concurrent lookups, EDNS0 with TCP fallback, retries across
// servers, and counters of the traffic it causes.
//
// Every check package declares its own small Resolver interface, and
// *Resolver satisfies all of them, as net.DefaultResolver does.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// Defaults of a Config's zero fields.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultCacheSize = 10000
	DefaultAttempts  = 2
)

// Exchanger answers one DNS query. The resolver normally sends queries to
// the configured servers over UDP and TCP; a Config with an Exchanger sends
// them there instead (resolvertest uses this to answer from zone text).
type Exchanger interface {
	Exchange(ctx context.Context, query *dns.Msg) (*dns.Msg, error)
}

// Config configures a Resolver. The zero value uses the servers of
// /etc/resolv.conf with the defaults above.
type Config struct {
	// Servers are the recursive resolvers to ask, as "host:port" (a host
	// without a port means port 53). Empty means the nameservers of
	// /etc/resolv.conf.
	Servers []string
	// Timeout bounds one query to one server. Zero means DefaultTimeout.
	Timeout time.Duration
	// Attempts is how many rounds over all servers a query gets before it
	// fails. Zero means DefaultAttempts.
	Attempts int
	// CacheSize bounds the number of cached answers. Zero means
	// DefaultCacheSize; a negative value disables the cache.
	CacheSize int
	// MaxTTL caps how long any answer is cached. Zero means one day.
	MaxTTL time.Duration
	// Exchanger, if set, answers every query instead of Servers.
	Exchanger Exchanger
}

// Resolver is a caching DNS stub resolver. It is safe for concurrent use.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
	maxTTL   time.Duration
	exchange Exchanger
	cache    *cache
	flight   singleflight.Group
	stats    counters
	now      func() time.Time
}

// New returns a Resolver configured by cfg.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{
		timeout:  cfg.Timeout,
		attempts: cfg.Attempts,
		maxTTL:   cfg.MaxTTL,
		exchange: cfg.Exchanger,
		now:      time.Now,
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.attempts <= 0 {
		r.attempts = DefaultAttempts
	}
	if r.maxTTL <= 0 {
		r.maxTTL = 24 * time.Hour
	}
	switch {
	case cfg.CacheSize == 0:
		r.cache = newCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		r.cache = newCache(cfg.CacheSize)
	}
	if r.exchange == nil {
		servers := cfg.Servers
		if len(servers) == 0 {
			cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
			if err != nil {
				return nil, fmt.Errorf("resolver: no servers configured and %w", err)
			}
			for _, s := range cc.Servers {
				servers = append(servers, net.JoinHostPort(s, cc.Port))
			}
		}
		for _, s := range servers {
			if _, _, err := net.SplitHostPort(s); err != nil {
				s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
			}
			r.servers = append(r.servers, s)
		}
		if len(r.servers) == 0 {
			return nil, errors.New("resolver: no DNS servers")
		}
		r.exchange = &wire{servers: r.servers, timeout: r.timeout, attempts: r.attempts, stats: &r.stats}
	} else {
		r.exchange = timed{r.exchange, r.timeout}
	}
	return r, nil
}

// Stats counts a resolver's work since it was made.
type Stats struct {
	Lookups   uint64 // (name, type) lookups asked of the resolver
	CacheHits uint64 // lookups answered from the cache
	Shared    uint64 // lookups that joined an identical query in flight
	Queries   uint64 // queries sent upstream (one per lookup that missed, retries not counted)
	Sent      uint64 // DNS messages sent over the wire, retries and TCP fallbacks included
	Failures  uint64 // queries that ended in a timeout, SERVFAIL, REFUSED or other error
}

type counters struct {
	lookups, hits, shared, queries, sent, failures atomic.Uint64
}

// Stats returns the resolver's counters.
func (r *Resolver) Stats() Stats {
	return Stats{
		Lookups:   r.stats.lookups.Load(),
		CacheHits: r.stats.hits.Load(),
		Shared:    r.stats.shared.Load(),
		Queries:   r.stats.queries.Load(),
		Sent:      r.stats.sent.Load(),
		Failures:  r.stats.failures.Load(),
	}
}

// answer is the outcome of one (name, type) query, as cached.
type answer struct {
	rcode  int      // dns.RcodeSuccess or dns.RcodeNameError; failures are errors
	rrs    []dns.RR // records of the asked type, CNAMEs followed
	target string   // the canonical name the records belong to
}

// lookup answers (name, qtype) from the cache or upstream. name must be
// lower-case and absolute.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*answer, error) {
	r.stats.lookups.Add(1)
	key := cacheKey{name, qtype}
	if r.cache != nil {
		if a, err, ok := r.cache.get(key, r.now()); ok {
			r.stats.hits.Add(1)
			if err != nil {
				return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
			}
			return a, nil
		}
	}
	ch := r.flight.DoChan(dns.TypeToString[qtype]+" "+name, func() (any, error) {
		// The shared query must not die with the first caller's context:
		// its own deadline is the attempts' timeouts.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout*time.Duration(r.attempts)+r.timeout)
		defer cancel()
		return r.resolve(qctx, name, qtype)
	})
	select {
	case res := <-ch:
		if res.Shared {
			r.stats.shared.Add(1)
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*answer), nil
	case <-ctx.Done():
		return nil, &net.DNSError{Err: "operation was canceled", Name: name, IsTimeout: true, IsTemporary: true}
	}
}

// maxCNAME bounds a CNAME chain, as recursive resolvers do.
const maxCNAME = 8

// resolve sends (name, qtype) upstream, follows CNAMEs the answer does not
// resolve by itself, and caches the outcome.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) (*answer, error) {
	r.stats.queries.Add(1)
	target := name
	seen := map[string]bool{}
	for hops := 0; ; hops++ {
		if hops > maxCNAME || seen[target] {
			r.stats.failures.Add(1)
			return nil, &net.DNSError{Err: "CNAME chain too long or looping", Name: name, IsTemporary: true}
		}
		seen[target] = true
		q := new(dns.Msg)
		q.SetQuestion(target, qtype)
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
			// Cache a SERVFAIL briefly (RFC 2308 §7.1 allows up to five
			// minutes; a mail server should retry soon).
			r.store(cacheKey{name, qtype}, nil, 2, errServFail)
			return nil, &net.DNSError{Err: errServFail.Error(), Name: name, IsTemporary: true}
		default:
			r.stats.failures.Add(1)
			return nil, &net.DNSError{Err: "server misbehaving: " + dns.RcodeToString[resp.Rcode], Name: name, IsTemporary: true}
		}
		rrs, final, ttl := collect(resp, target, qtype)
		if len(rrs) > 0 || final == target || resp.Rcode == dns.RcodeNameError {
			a := &answer{rcode: resp.Rcode, rrs: rrs, target: final}
			if len(rrs) == 0 {
				ttl = min(ttl, negativeTTL(resp))
			}
			r.store(cacheKey{name, qtype}, a, ttl, nil)
			return a, nil
		}
		// The answer ends in a CNAME whose target it does not resolve:
		// ask for the target.
		target = final
	}
}

var errServFail = errors.New("server misbehaving")

// collect returns the records of type qtype that the answer m holds for
// name, following the CNAMEs within it; the last name of the chain (name
// itself when there is no CNAME); and the smallest TTL of the records used.
func collect(m *dns.Msg, name string, qtype uint16) (rrs []dns.RR, final string, ttl uint32) {
	ttl = ^uint32(0)
	final = name
	for hops := 0; hops <= maxCNAME; hops++ {
		for _, rr := range m.Answer {
			if h := rr.Header(); h.Rrtype == qtype && strings.EqualFold(h.Name, final) {
				rrs = append(rrs, rr)
				ttl = min(ttl, h.Ttl)
			}
		}
		if len(rrs) > 0 {
			return rrs, final, ttl
		}
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, final) {
				ttl = min(ttl, c.Hdr.Ttl)
				next = strings.ToLower(c.Target)
				break
			}
		}
		if next == "" {
			break
		}
		final = next
	}
	return nil, final, ttl
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
	return 5
}

func (r *Resolver) store(k cacheKey, a *answer, ttl uint32, err error) {
	if r.cache == nil || ttl == 0 {
		return
	}
	d := min(time.Duration(ttl)*time.Second, r.maxTTL)
	if a == nil {
		a = &answer{}
	}
	r.cache.put(k, a, err, r.now().Add(d))
}

// dnsError turns an exchange error into the *net.DNSError that callers of
// net expect. The error is never wrapped further: blitiri.com.ar/go/spf and
// go-msgauth classify DNS errors by type assertion.
func dnsError(name string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	e := &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) && ne.Timeout() {
		e.Err = "i/o timeout"
		e.IsTimeout = true
	}
	return e
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// canonical returns name lower-cased and absolute, or an error for a name
// that cannot be asked (empty, too long, bad labels).
func canonical(name string) (string, error) {
	if name == "" || len(name) > 254 {
		return "", &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	fq := dns.Fqdn(name)
	lower := true
	for i := 0; i < len(fq); i++ {
		if c := fq[i]; c >= 'A' && c <= 'Z' {
			lower = false
			break
		}
	}
	if !lower {
		fq = strings.ToLower(fq)
	}
	if _, ok := dns.IsDomainName(fq); !ok {
		return "", &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return fq, nil
}

// records looks up (host, qtype) and returns the records, or the error net
// would give for no records.
func (r *Resolver) records(ctx context.Context, host string, qtype uint16) ([]dns.RR, error) {
	name, err := canonical(host)
	if err != nil {
		return nil, err
	}
	a, err := r.lookup(ctx, name, qtype)
	if err != nil {
		if de, ok := err.(*net.DNSError); ok && de.Name != host {
			c := *de
			c.Name = host
			return nil, &c
		}
		return nil, err
	}
	if len(a.rrs) == 0 {
		return nil, notFound(host)
	}
	return a.rrs, nil
}

// LookupTXT returns the TXT records of name, each record's strings joined,
// as net.Resolver.LookupTXT does.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.records(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// LookupMX returns the MX records of name sorted by preference, with
// absolute host names as net.Resolver.LookupMX does. A null MX (RFC 7505)
// comes back as one record with Host ".".
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := r.records(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	sortMX(out)
	return out, nil
}

func sortMX(mx []*net.MX) {
	for i := 1; i < len(mx); i++ {
		for j := i; j > 0 && mx[j].Pref < mx[j-1].Pref; j-- {
			mx[j], mx[j-1] = mx[j-1], mx[j]
		}
	}
}

// LookupAddr returns the PTR names of addr (an IPv4 or IPv6 address in
// text form), absolute, as net.Resolver.LookupAddr does.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	rrs, err := r.records(ctx, rev, dns.TypePTR)
	if err != nil {
		if de, ok := err.(*net.DNSError); ok {
			c := *de
			c.Name = addr
			return nil, &c
		}
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}

// LookupCNAME returns the canonical name of host after following its CNAME
// chain, absolute; host itself when it has no CNAME but exists.
func (r *Resolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	name, err := canonical(host)
	if err != nil {
		return "", err
	}
	// As net does, ask for A and read the chain from the answer.
	a, err := r.lookup(ctx, name, dns.TypeA)
	if err != nil {
		return "", err
	}
	if a.rcode == dns.RcodeNameError {
		return "", notFound(host)
	}
	return a.target, nil
}

// LookupNetIP returns the addresses of host; network is "ip", "ip4" or
// "ip6". For "ip" the A and AAAA queries go out together.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []uint16
	switch network {
	case "ip":
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	default:
		return nil, &net.DNSError{Err: "unsupported network " + network, Name: host}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if len(types) == 1 {
		rrs, err := r.records(ctx, host, types[0])
		if err != nil {
			return nil, err
		}
		return appendAddrs(nil, rrs), nil
	}
	type res struct {
		rrs []dns.RR
		err error
	}
	ch := make(chan res, 1)
	go func() {
		rrs, err := r.records(ctx, host, dns.TypeAAAA)
		ch <- res{rrs, err}
	}()
	rrs4, err4 := r.records(ctx, host, dns.TypeA)
	six := <-ch
	out := appendAddrs(appendAddrs(nil, rrs4), six.rrs)
	if len(out) > 0 {
		return out, nil
	}
	// No address: report a failure before a not-found, as net does, so
	// that a SERVFAIL on one family is not mistaken for a missing name.
	for _, err := range []error{err4, six.err} {
		if de, ok := err.(*net.DNSError); ok && !de.IsNotFound {
			return nil, err
		}
	}
	if err4 != nil {
		return nil, err4
	}
	return nil, notFound(host)
}

func appendAddrs(out []netip.Addr, rrs []dns.RR) []netip.Addr {
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			if ip, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				out = append(out, ip)
			}
		case *dns.AAAA:
			if ip, ok := netip.AddrFromSlice(rr.AAAA.To16()); ok {
				out = append(out, ip)
			}
		}
	}
	return out
}

// LookupIPAddr returns the addresses of host as net.IPAddr values.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	return out, nil
}

// LookupHost returns the addresses of host as strings.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

// timed bounds each query to a caller's Exchanger by the resolver's timeout.
type timed struct {
	Exchanger
	timeout time.Duration
}

func (t timed) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.Exchanger.Exchange(ctx, q)
}
