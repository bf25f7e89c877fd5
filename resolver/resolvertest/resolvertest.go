// Package resolvertest is the httptest of DNS: a resolver that answers from
// RFC 1035 zone text, with faults and latency a test can set, query
// counters, and a real DNS server on loopback serving the same zone.
//
//	r := resolvertest.MustNew(`
//	$ORIGIN example.org.
//	mx     A    192.0.2.25
//	@      MX   10 mx
//	@      TXT  "v=spf1 mx -all"
//	`)
//	r.SetFault("broken.example.org", resolvertest.ServFail)
//	res := spf.Check(ctx, r, ip, "mx.example.org", "a@example.org")
//
// A *Resolver has the lookup methods of *net.Resolver that mtaguard's checks
// use, so it satisfies every check's Resolver interface. It answers the way
// a recursive server would (CNAME chains followed, NXDOMAIN and NODATA told
// apart, SOA in negative answers when the zone has one) and turns answers
// into results and errors with the same code as package resolver, so a
// lookup in memory and one over the wire to NewServer give the same
// answers and the same error classes. It has no cache and does not merge
// identical concurrent lookups: every lookup is a query, and counts.
package resolvertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mtaguard/mtaguard/resolver"
)

// Fault is a failure a test can make the resolver or its server show for a
// name.
type Fault int

const (
	NoFault  Fault = iota
	ServFail       // answer SERVFAIL
	Refused        // answer REFUSED
	Timeout        // never answer (in memory: fail with a timeout after SetTimeoutAfter)
	// The faults below matter over the wire only; in memory they answer
	// normally.
	Truncate      // over UDP, answer with TC set and no records (TCP answers)
	WrongID       // first send the answer with another message ID, then the real one
	WrongQuestion // first send an answer to another question, then the real one
	Garbage       // first send bytes that are no DNS message, then the real answer
)

var faultNames = [...]string{"none", "servfail", "refused", "timeout", "truncate", "wrong-id", "wrong-question", "garbage"}

func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// DefaultTimeoutAfter is how long an in-memory lookup of a name with the
// Timeout fault waits before it fails with a timeout, unless its context
// ends first.
const DefaultTimeoutAfter = time.Second

// Resolver answers DNS lookups from zone data. Its methods are safe for
// concurrent use, and faults, latency and records may change while lookups
// run.
type Resolver struct {
	*resolver.Resolver // the lookup methods, over the in-memory exchange

	mu           sync.RWMutex
	records      map[string][]dns.RR // by lower-case absolute owner name
	names        map[string]bool     // every owner name and its ancestors (for NODATA vs NXDOMAIN)
	faults       map[faultKey]Fault
	latency      time.Duration
	timeoutAfter time.Duration
	counts       map[faultKey]int
	total        int
}

type faultKey struct {
	name  string
	qtype uint16 // 0: any type
}

// New returns a Resolver answering from zone, RFC 1035 master-file text.
// $ORIGIN and $TTL are understood; without them names must be absolute and
// the TTL is one hour.
func New(zone string) (*Resolver, error) {
	r := &Resolver{
		records:      map[string][]dns.RR{},
		names:        map[string]bool{},
		faults:       map[faultKey]Fault{},
		counts:       map[faultKey]int{},
		timeoutAfter: DefaultTimeoutAfter,
	}
	if err := r.Add(zone); err != nil {
		return nil, err
	}
	res, err := resolver.New(resolver.Config{Exchanger: exchanger{r}, CacheSize: -1, Timeout: time.Hour, Attempts: 1})
	if err != nil {
		return nil, err
	}
	r.Resolver = res
	return r, nil
}

// MustNew is New for tests and examples: it panics if zone does not parse.
func MustNew(zone string) *Resolver {
	r, err := New(zone)
	if err != nil {
		panic(err)
	}
	return r
}

// Add adds the records of zone text to the resolver.
func (r *Resolver) Add(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(3600)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("resolvertest: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rr := range rrs {
		name := strings.ToLower(rr.Header().Name)
		rr.Header().Name = name
		r.records[name] = append(r.records[name], rr)
		for n := name; ; {
			r.names[n] = true
			i := strings.IndexByte(n, '.')
			if n == "." || i < 0 || i == len(n)-1 {
				break
			}
			n = n[i+1:]
		}
	}
	return nil
}

func canonical(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// SetFault makes every query for name (any type) show f; NoFault clears it.
func (r *Resolver) SetFault(name string, f Fault) { r.SetFaultType(name, 0, f) }

// SetFaultType makes queries for name of type qtype (dns.TypeA, ...) show f;
// NoFault clears it. A fault for one type takes precedence over one for
// any type.
func (r *Resolver) SetFaultType(name string, qtype uint16, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := faultKey{canonical(name), qtype}
	if f == NoFault {
		delete(r.faults, k)
	} else {
		r.faults[k] = f
	}
}

// SetLatency makes every query take d before it is answered.
func (r *Resolver) SetLatency(d time.Duration) {
	r.mu.Lock()
	r.latency = d
	r.mu.Unlock()
}

// SetTimeoutAfter sets how long an in-memory lookup hit by the Timeout fault
// waits before failing (DefaultTimeoutAfter until set).
func (r *Resolver) SetTimeoutAfter(d time.Duration) {
	r.mu.Lock()
	r.timeoutAfter = d
	r.mu.Unlock()
}

// Queries returns how many queries for (name, qtype) were answered or
// failed, in memory and by a server of this resolver.
func (r *Resolver) Queries(name string, qtype uint16) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.counts[faultKey{canonical(name), qtype}]
}

// TotalQueries returns how many queries were made, of any name and type.
func (r *Resolver) TotalQueries() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.total
}

// ResetQueries sets the query counters back to zero.
func (r *Resolver) ResetQueries() {
	r.mu.Lock()
	r.counts = map[faultKey]int{}
	r.total = 0
	r.mu.Unlock()
}

func (r *Resolver) fault(name string, qtype uint16) Fault {
	if f, ok := r.faults[faultKey{name, qtype}]; ok {
		return f
	}
	return r.faults[faultKey{name, 0}]
}

// query counts q, waits the latency, and returns the fault for it and the
// answer built from the zone.
func (r *Resolver) query(ctx context.Context, q *dns.Msg) (*dns.Msg, Fault, error) {
	if len(q.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeFormatError)
		return m, NoFault, nil
	}
	qq := q.Question[0]
	name := strings.ToLower(qq.Name)
	r.mu.Lock()
	r.counts[faultKey{name, qq.Qtype}]++
	r.total++
	f := r.fault(name, qq.Qtype)
	latency := r.latency
	r.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, NoFault, ctx.Err()
		}
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	switch f {
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		return m, f, nil
	case Refused:
		m.Rcode = dns.RcodeRefused
		return m, f, nil
	case Timeout:
		return nil, f, nil
	}
	r.mu.RLock()
	r.answer(m, name, qq.Qtype)
	r.mu.RUnlock()
	return m, f, nil
}

// answer fills m as a recursive server would for (name, qtype): records,
// following CNAMEs (at most 16), wildcards (RFC 4592, closest encloser
// only), and NXDOMAIN or NODATA with the zone's SOA when there is nothing.
func (r *Resolver) answer(m *dns.Msg, name string, qtype uint16) {
	seen := map[string]bool{}
	for hops := 0; hops < 16; hops++ {
		if seen[name] {
			// A CNAME loop: recursive servers give up with SERVFAIL.
			m.Answer = nil
			m.Rcode = dns.RcodeServerFailure
			return
		}
		seen[name] = true
		rrs, owner := r.lookupName(name)
		if rrs == nil {
			if !r.names[name] {
				m.Rcode = dns.RcodeNameError
			}
			r.addSOA(m, name)
			return
		}
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == qtype || qtype == dns.TypeANY {
				m.Answer = append(m.Answer, withName(rr, owner, name))
				found = true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil {
			if !found {
				r.addSOA(m, name)
			}
			return
		}
		m.Answer = append(m.Answer, withName(cname, owner, name))
		name = strings.ToLower(cname.Target)
	}
	m.Answer = nil
	m.Rcode = dns.RcodeServerFailure
}

// lookupName returns the records of name, or those of the wildcard that
// covers it, and the owner name they were stored under.
func (r *Resolver) lookupName(name string) ([]dns.RR, string) {
	if rrs, ok := r.records[name]; ok {
		return rrs, name
	}
	if r.names[name] {
		return nil, "" // an empty non-terminal: NODATA
	}
	for n := name; ; {
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil, ""
		}
		n = n[i+1:]
		if rrs, ok := r.records["*."+n]; ok {
			return rrs, "*." + n
		}
		if r.names[n] {
			return nil, ""
		}
	}
}

func withName(rr dns.RR, owner, name string) dns.RR {
	if owner == name {
		return rr
	}
	c := dns.Copy(rr)
	c.Header().Name = name
	return c
}

// addSOA puts the SOA of the closest enclosing zone in the authority
// section, so that resolvers can cache the negative answer (RFC 2308).
func (r *Resolver) addSOA(m *dns.Msg, name string) {
	for n := name; ; {
		for _, rr := range r.records[n] {
			if rr.Header().Rrtype == dns.TypeSOA {
				m.Ns = append(m.Ns, rr)
				return
			}
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return
		}
		n = n[i+1:]
	}
}

// exchanger answers the embedded resolver's queries in memory.
type exchanger struct{ r *Resolver }

func (e exchanger) Exchange(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	m, f, err := e.r.query(ctx, q)
	if err != nil {
		return nil, err
	}
	if f == Timeout {
		e.r.mu.RLock()
		wait := e.r.timeoutAfter
		e.r.mu.RUnlock()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return nil, os.ErrDeadlineExceeded
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m, nil
}
