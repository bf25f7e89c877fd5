package dmarc

import (
	"context"
	"strings"
	"sync"

	"github.com/mtaguard/mtaguard/internal/dnserr"
)

// maxWalk is the most _dmarc names one tree walk asks (RFC 9989 §4.10:
// "more than eight labels do not result in more than eight DNS queries").
const maxWalk = 8

// walkNames returns the names a DNS tree walk from domain asks, in order
// (RFC 9989 §4.10 steps 1-7): domain itself, then, for a domain of x
// labels, its parents of min(x-1, 7) labels down to one label. So
// a.b.c.d.e.f.g.h.i.j.mail.example.com gives itself and then
// g.h.i.j.mail.example.com ... com, eight names in all.
func walkNames(domain string) []string {
	labels := strings.Split(domain, ".")
	x := len(labels)
	names := make([]string, 0, maxWalk)
	names = append(names, domain)
	for k := min(x-1, maxWalk-1); k >= 1; k-- {
		names = append(names, strings.Join(labels[x-k:], "."))
	}
	return names
}

// answer is the outcome of a lookup of _dmarc.<name>: the DMARC records
// there (see isDMARC), or the failure that kept them from us.
type answer struct {
	recs []string
	err  error
}

// record returns the one DMARC record of the answer, or "" when there are
// none or several ("If multiple DMARC Policy Records are returned for a
// single target, they are all discarded", RFC 9989 §4.10 step 2).
func (a answer) record() string {
	if len(a.recs) == 1 {
		return a.recs[0]
	}
	return ""
}

// lookups runs the _dmarc lookups of one evaluation: each name is asked at
// most once, all of them concurrently, so a tree walk costs one round trip
// however many names it needs.
type lookups struct {
	ctx context.Context
	r   Resolver
	mu  sync.Mutex
	m   map[string]*lookup
	wg  sync.WaitGroup
}

type lookup struct {
	done chan struct{}
	a    answer
}

func newLookups(ctx context.Context, r Resolver) *lookups {
	return &lookups{ctx: ctx, r: r, m: map[string]*lookup{}}
}

// start starts the lookup of _dmarc.<name> unless it is running or done.
func (l *lookups) start(names ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range names {
		if l.m[name] != nil {
			continue
		}
		lk := &lookup{done: make(chan struct{})}
		l.m[name] = lk
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer close(lk.done)
			lk.a = fetch(l.ctx, l.r, name)
		}()
	}
}

// get returns the answer for name, starting its lookup if needed.
func (l *lookups) get(name string) answer {
	l.start(name)
	l.mu.Lock()
	lk := l.m[name]
	l.mu.Unlock()
	<-lk.done
	return lk.a
}

// wait waits for every lookup started, so that none outlives the
// evaluation. They were all started together, so this adds nothing to the
// round trip the evaluation waited for.
func (l *lookups) wait() { l.wg.Wait() }

// fetch returns the DMARC records (see isDMARC) published at
// _dmarc.<name>. "No such name" and "no TXT records" are an empty answer;
// any other failure is an error, never evidence. The strings of one TXT
// record are already joined by the resolver (RFC 9989 §4.5).
func fetch(ctx context.Context, r Resolver, name string) answer {
	txts, err := r.LookupTXT(ctx, "_dmarc."+name)
	if err != nil {
		if dnserr.NotFound(err) {
			return answer{}
		}
		return answer{err: err}
	}
	var a answer
	for _, t := range txts {
		if isDMARC(t) {
			a.recs = append(a.recs, t)
		}
	}
	return a
}

// walkError is a DNS failure at a name of a tree walk that could change
// its outcome (RFC 9989 §5.3.6: the message can then neither pass nor
// fail).
type walkError struct {
	name string
	err  error
}

func (e *walkError) Error() string {
	return "DNS failure looking up _dmarc." + e.name + ": " + e.err.Error()
}
func (e *walkError) Unwrap() error { return e.err }

// orgWalk finds the organizational domain of start by the DNS tree walk
// and the selection of RFC 9989 §4.10.2, over the names of walkNames
// (whose lookups it starts together):
//
//  1. going from the longest name to the shortest, the first name with a
//     DMARC record with psd=n is the organizational domain;
//  2. the first such record with psd=y, at a name other than start, makes
//     the name one label below it (towards start) the organizational
//     domain, and psd is that PSD's name;
//  3. otherwise the name with the fewest labels that has a DMARC record;
//  4. with no record at all, start itself.
//
// The walk stops at the first record with psd=y or psd=n, so failures of
// lookups above it do not matter; a failure before it does: walkError.
func orgWalk(l *lookups, start string) (org, psd string, err error) {
	names := walkNames(start)
	l.start(names...)
	found := ""
	for i, name := range names {
		a := l.get(name)
		if a.err != nil {
			return "", "", &walkError{name, a.err}
		}
		txt := a.record()
		if txt == "" {
			continue
		}
		found = name
		switch psdFlag(txt) {
		case 'n':
			return name, "", nil
		case 'y':
			if i == 0 {
				return name, "", nil
			}
			labels := strings.Split(start, ".")
			return strings.Join(labels[len(labels)-strings.Count(name, ".")-2:], "."), name, nil
		}
	}
	if found != "" {
		return found, "", nil
	}
	return start, "", nil
}

// psdFlag returns the psd= value of a DMARC record: 'y', 'n' or 'u' (also
// for an invalid value, RFC 9989 §4.8). A record whose policy tags are
// unusable (errNoPolicy) is still a DMARC record for the walk.
func psdFlag(txt string) byte {
	for part := range strings.SplitSeq(txt, ";") {
		name, value, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(trimWSP(name), "psd") {
			switch strings.ToLower(trimWSP(value)) {
			case "y":
				return 'y'
			case "n":
				return 'n'
			}
			return 'u'
		}
	}
	return 'u'
}

// discovery is where the policy of an author domain was found.
type discovery struct {
	domain string // the DMARC Policy Domain, "" when no record applies
	txt    string // its record
	multi  int    // RFC 7489: the number of records at the name that stopped discovery, when more than one
	org    string // the author domain's organizational domain (tree walk), for alignment
}

// discoverWalk finds the DMARC record that applies to the author domain
// from (RFC 9989 §4.10.1): the author domain's own, else its
// organizational domain's, else that of its public suffix domain (psd=y).
func discoverWalk(l *lookups, from string) (discovery, error) {
	l.start(walkNames(from)...)
	a := l.get(from)
	if a.err != nil {
		return discovery{}, &walkError{from, a.err}
	}
	org, psd, err := orgWalk(l, from)
	own := a.record()
	if own != "" {
		// The organizational domain is only needed for alignment; a
		// failure finding it is reported there.
		d := discovery{domain: from, txt: own, org: org}
		if err != nil {
			d.org = ""
		}
		return d, nil
	}
	if err != nil {
		return discovery{}, err
	}
	d := discovery{org: org}
	if txt := l.get(org).record(); txt != "" {
		d.domain, d.txt = org, txt
	} else if psd != "" {
		d.domain, d.txt = psd, l.get(psd).record()
	}
	return d, nil
}

// discoverPSL finds the DMARC record of the author domain from as RFC 7489
// §6.6.3 does: at _dmarc.<from>, or, if there is none, at
// _dmarc.<organizational domain> (OrgDomain), and at no name between; both
// are asked at once. Several records at the name that answers mean no
// policy.
func discoverPSL(l *lookups, from string) (discovery, error) {
	org := OrgDomain(from)
	l.start(from)
	if org != "" && org != from {
		l.start(org)
	}
	a := l.get(from)
	where := from
	if a.err == nil && len(a.recs) == 0 && org != "" && org != from {
		where, a = org, l.get(org)
	}
	switch {
	case a.err != nil:
		return discovery{}, &walkError{where, a.err}
	case len(a.recs) > 1:
		return discovery{domain: where, multi: len(a.recs)}, nil
	case len(a.recs) == 0:
		return discovery{}, nil
	}
	return discovery{domain: where, txt: a.recs[0], org: org}, nil
}

// exists reports whether domain exists in the sense of RFC 9989 §3.2.13
// as RFC 9091 §2.7 made it testable: a query for its MX, A or AAAA
// records gets an answer other than NXDOMAIN or NODATA. It asks for MX
// first, which settles most mail domains at once.
func exists(ctx context.Context, r Resolver, domain string) (bool, error) {
	mx, err := r.LookupMX(ctx, domain)
	if err == nil && len(mx) > 0 {
		return true, nil
	}
	if err != nil && !dnserr.NotFound(err) {
		return false, err
	}
	ips, err := r.LookupNetIP(ctx, "ip", domain)
	if err == nil && len(ips) > 0 {
		return true, nil
	}
	if err != nil && !dnserr.NotFound(err) {
		return false, err
	}
	return false, nil
}
