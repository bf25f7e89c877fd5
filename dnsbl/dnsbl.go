// Package dnsbl looks a client's address, or a domain, up in DNS block and
// allow lists (RFC 5782): the check of postscreen's weighted DNSBL score,
// rspamd's rbl module and Haraka's dns-list plugin.
//
// Every list is asked in parallel, so a check over many lists costs about
// one lookup. A list's answer counts only if it is a listing: answers in
// 127.255.255.0/24 are the lists' error signals (Spamhaus: query through
// an open resolver, too many queries, a typo in the zone name) and answers
// outside 127.0.0.0/8 come from a resolver that rewrites NXDOMAIN, so both
// are reported as errors for the operator to fix and never as listings.
//
// The check demands nothing by default: it scores (the sum of the listing
// lists' Scores, negative for allow lists), and the policy decides.
// Options.RejectScore adds a hard rejection for those who want Haraka's
// default.
//
// Where the reference systems part ways, this package chooses:
//
//   - Scoring is postscreen's: each List adds its Score once if any answer
//     matches its Codes, the same zone may be weighed several ways, and
//     allow lists subtract. Exim's "stop at the first hit" is not offered:
//     all lists are asked at once anyway.
//   - A list that fails to answer (SERVFAIL, timeout) or answers with an
//     error code counts as not listing the subject, as with Exim's default
//     +exclude_unknown, but the result says so (TempError, naming the
//     list) instead of passing silently. maddy instead refuses the mail
//     on any list error (fail closed); that turns one list's outage into
//     everyone's, and a DNS failure is never evidence here.
//   - Haraka and rspamd also disable a failing list until a later health
//     check. That needs state across sessions, which checks do not keep:
//     Test is the health check, and dropping a list that fails it is the
//     caller's to do.
package dnsbl

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/internal/dnserr"
	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/internal/netset"
	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver is the part of *net.Resolver the check uses.
// net.DefaultResolver, *resolver.Resolver and *resolvertest.Resolver all
// satisfy it. Its errors follow [verdict.Resolver].
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// DefaultTimeout bounds the lookups of one list, so that a list that does
// not answer costs only its own result, not the others' (Haraka #2436).
// It is postscreen's postscreen_dnsbl_timeout, and half of
// verdict.DefaultTimeout, the whole stage's deadline.
const DefaultTimeout = 10 * time.Second

// ErrAnswer is the Err of a result whose lists failed only by answering
// with an error code (127.255.255.0/24, a List's Errors) or an address
// outside 127.0.0.0/8; a DNS failure is reported with the resolver's own
// error instead.
var ErrAnswer = errors.New("dnsbl: a list answered with an error code")

// Check looks ip up in lists: its IPv4 octets reversed ("2.0.0.127") or
// its IPv6 nibbles reversed (32 labels, RFC 5782 §2.4) under each list's
// zone. An IPv4-mapped IPv6 address is looked up as the IPv4 address.
// Private, loopback, link-local and other non-global addresses are not
// looked up (their listing means nothing, and the query would leak
// internal addresses to the list); the result is None. New with
// Options.NonGlobal looks them up.
//
// The result:
//
//   - Fail when a list with a Score of zero or more lists ip, with Score
//     the sum of the Scores of all lists that list it (each counted once,
//     whatever the number of its codes that matched);
//   - Pass when only allow lists (negative Score) list it, with their sum;
//   - TempError, with no score, when no list lists it and a lookup failed
//     or a list answered with an error code; Err is the first DNS error,
//     or ErrAnswer;
//   - PermError when no list lists it and a zone name is malformed;
//   - None when no list lists it.
//
// The Reason names each list that listed the subject with its return
// codes (and TXT explanation, when the List asks for it), and each list
// that failed, and why. Errors of some lists do not hide the listings of
// others: a Fail may mention them too.
func Check(ctx context.Context, r Resolver, ip netip.Addr, lists []List) verdict.Result {
	return checkIP(ctx, r, ip, lists, false, DefaultTimeout)
}

// CheckDomain looks domain up in domain-based lists (RHSBL, Spamhaus DBL):
// the domain as it is, lower-cased, under each list's zone (RFC 5782
// §2.3). A domain that is not a valid host name (an address literal, a
// name with spaces, an all-numeric name) is not looked up: the result is
// None. The result is otherwise as Check's.
func CheckDomain(ctx context.Context, r Resolver, domain string, lists []List) verdict.Result {
	return checkDomain(ctx, r, domain, lists, DefaultTimeout)
}

func checkIP(ctx context.Context, r Resolver, ip netip.Addr, lists []List, nonGlobal bool, timeout time.Duration) verdict.Result {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return verdict.Result{Check: Name, Reason: "no client address"}
	}
	if !nonGlobal && !netset.Public(ip) {
		return verdict.Result{Check: Name, Reason: "not checked: " + ip.String() + " is not a global address"}
	}
	return run(ctx, r, ip.String(), reverse(ip), ip.Is6(), lists, timeout)
}

func checkDomain(ctx context.Context, r Resolver, domain string, lists []List, timeout time.Duration) verdict.Result {
	d, err := dnsname.Normalize(domain)
	if err != nil {
		shown := verdict.PrintableN(domain, maxShown)
		return verdict.Result{Check: Name, Reason: "not checked: " + strconv.Quote(shown) + " is not a valid domain"}
	}
	return run(ctx, r, d, d, false, lists, timeout)
}

// query is one DNS name to look up, for one or more lists.
type query struct {
	name    string // absolute
	lists   []int  // indexes of the lists asking it
	txt     bool   // some list wants the TXT record when listed
	answers []netip.Addr
	text    string // the TXT record, when looked up and found
	err     error
}

// outcome is what one list says.
type outcome struct {
	kind  answerKind
	codes []netip.Addr // listing codes
	bad   netip.Addr   // the error answer
	err   error        // DNS failure
	zone  error        // malformed zone
}

func run(ctx context.Context, r Resolver, subject, prefix string, v6 bool, lists []List, timeout time.Duration) verdict.Result {
	res := verdict.Result{Check: Name}
	outs := make([]outcome, len(lists))
	zones := make([]string, len(lists))
	var queries []*query
	for i := range lists {
		l := &lists[i]
		if v6 && l.IPv4Only {
			continue
		}
		z, err := dnsname.Normalize(l.Zone)
		if err != nil {
			outs[i].zone = err
			continue
		}
		zones[i] = z
		name := prefix + "." + z + "."
		if len(name) > 254 {
			// Too long to ask (RFC 1035 §2.3.4): nothing to find.
			continue
		}
		q := findQuery(queries, name)
		if q == nil {
			q = &query{name: name}
			queries = append(queries, q)
		}
		q.lists = append(q.lists, i)
		q.txt = q.txt || l.TXT
	}

	switch len(queries) {
	case 0:
	case 1:
		lookup(ctx, r, queries[0], lists, timeout)
	default:
		done := make(chan struct{}, len(queries))
		for _, q := range queries {
			go func() {
				lookup(ctx, r, q, lists, timeout)
				done <- struct{}{}
			}()
		}
		for range queries {
			<-done
		}
	}

	for _, q := range queries {
		for _, i := range q.lists {
			if q.err != nil {
				outs[i].err = q.err
				continue
			}
			outs[i].codes, outs[i].bad, outs[i].kind = lists[i].evaluate(q.answers)
		}
	}
	return summarize(res, subject, lists, zones, outs, queries)
}

func findQuery(qs []*query, name string) *query {
	for _, q := range qs {
		if q.name == name {
			return q
		}
	}
	return nil
}

// lookup asks q's A records and, if a list that wants it is listed, its
// TXT record.
func lookup(ctx context.Context, r Resolver, q *query, lists []List, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	answers, err := r.LookupNetIP(ctx, "ip4", q.name)
	if err != nil && !dnserr.NotFound(err) {
		q.err = err
		return
	}
	q.answers = answers
	if !q.txt {
		return
	}
	for _, i := range q.lists {
		if _, _, k := lists[i].evaluate(answers); k == listed && lists[i].TXT {
			// The explanation is a courtesy: its failure changes nothing.
			if txt, err := r.LookupTXT(ctx, q.name); err == nil && len(txt) > 0 {
				q.text = txt[0]
			}
			return
		}
	}
}

// maxShown bounds a client's domain in a Reason.
const maxShown = 80

// maxTXT bounds a list's explanation in a Reason.
const maxTXT = 100

func summarize(res verdict.Result, subject string, lists []List, zones []string, outs []outcome, queries []*query) verdict.Result {
	var (
		block, allow bool
		failed       error
		badZone      error
		parts        []string
		failedZones  []string
	)
	for i := range lists {
		l, o := &lists[i], &outs[i]
		zone := zones[i]
		switch {
		case o.zone != nil:
			badZone = o.zone
			parts = append(parts, "invalid zone "+strconv.Quote(verdict.Printable(l.Zone)))
		case o.err != nil:
			if failed == nil {
				failed = o.err
			}
			// Lists sharing a zone share its failure: report it once.
			if !slices.Contains(failedZones, zone) {
				failedZones = append(failedZones, zone)
				parts = append(parts, zone+" lookup failed ("+dnserr.Reason(o.err)+")")
			}
		case o.kind == errorCode || o.kind == invalid:
			if failed == nil {
				failed = ErrAnswer
			}
			if !slices.Contains(failedZones, zone) {
				failedZones = append(failedZones, zone)
				parts = append(parts, zone+" answered "+o.bad.String()+": "+errorMeaning(o.bad, o.kind))
			}
		case o.kind == listed:
			res.Score += l.Score
			word := "listed on "
			if l.Score < 0 {
				allow = true
				word = "allowed by "
			} else {
				block = true
			}
			p := word + zone + " (" + codeList(o.codes) + ") " + scoreText(l.Score)
			if l.TXT {
				if t := txtFor(queries, i); t != "" {
					p += ": " + t
				}
			}
			parts = append(parts, p)
		}
	}
	switch {
	case block:
		res.Status = verdict.Fail
	case allow:
		res.Status = verdict.Pass
	case failed != nil:
		res.Status, res.Err = verdict.TempError, failed
	case badZone != nil:
		res.Status, res.Err = verdict.PermError, badZone
	}
	// A domain may be 253 octets: keep room for what the lists said.
	subject = verdict.PrintableN(subject, maxShown)
	if len(parts) == 0 {
		res.Reason = subject + " not listed (" + strconv.Itoa(len(lists)) + " lists)"
	} else {
		res.Reason = verdict.Printable(subject + ": " + strings.Join(parts, "; "))
	}
	return res
}

// txtFor returns the TXT explanation found for list i, bounded.
func txtFor(queries []*query, i int) string {
	for _, q := range queries {
		for _, j := range q.lists {
			if j == i {
				return verdict.PrintableN(q.text, maxTXT)
			}
		}
	}
	return ""
}

// reverse returns the labels under which lists hold ip: its IPv4 octets
// reversed, or its IPv6 nibbles reversed (RFC 5782 §2.1, §2.4).
func reverse(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		buf := make([]byte, 0, 15)
		for i := 3; i >= 0; i-- {
			buf = strconv.AppendUint(buf, uint64(b[i]), 10)
			if i > 0 {
				buf = append(buf, '.')
			}
		}
		return string(buf)
	}
	const hexdig = "0123456789abcdef"
	b := ip.As16()
	buf := make([]byte, 0, 63)
	for i := 15; i >= 0; i-- {
		buf = append(buf, hexdig[b[i]&15], '.', hexdig[b[i]>>4])
		if i > 0 {
			buf = append(buf, '.')
		}
	}
	return string(buf)
}
