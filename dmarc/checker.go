package dmarc

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in results and policy weights.
const Name = "dmarc"

// The names of the checks whose results DMARC reads (packages spf and
// dkim, whose Name constants they equal: check packages do not import each
// other).
const (
	spfName  = "spf"
	dkimName = "dkim"
)

// Options change how DMARC is evaluated. A nil *Options means the
// defaults.
type Options struct {
	// PublicSuffixList selects RFC 7489 discovery: the organizational
	// domain is the public suffix plus one label (OrgDomain), the policy is
	// asked at the author domain and at that domain only, and pct= is
	// sampled. The default is RFC 9989: the DNS tree walk, psd=, t=, and
	// pct= ignored.
	PublicSuffixList bool

	// Random returns a number in [0, n), for pct= sampling under
	// PublicSuffixList. nil means math/rand/v2's IntN. Tests pass a fixed
	// one.
	Random func(n int) int

	// Override, if set, is local policy (RFC 9989 §5.3.6): it gets the
	// author domain and the disposition DMARC would apply, after t= (or
	// pct=), and returns the one to apply, e.g. quarantine instead of
	// reject for mailing-list domains. The reason then says "local
	// policy".
	Override func(fromDomain string, d Disposition) Disposition

	// RejectMultipleAuthors refuses (550 5.7.26) a message whose From
	// fields name more than one author domain, however each of them
	// fares, as RFC 9989 §11.5 allows. By default every author domain is
	// evaluated and the strictest outcome applies.
	RejectMultipleAuthors bool

	// AcceptNoAuthor lets through, with PermError and Scores.BadFrom, a
	// message whose From fields hold no domain at all. By default such a
	// message is malformed and refused (550 5.7.26): DMARC cannot protect
	// a From that names no domain, and a mail reader may still show one.
	AcceptNoAuthor bool

	// Store, if set, receives one Evaluation per author domain that has a
	// DMARC policy, for aggregate reports (RFC 9990; see WriteReport).
	// Check adds them; an error of the store is ignored.
	Store Store

	// Now returns the time recorded in an Evaluation; nil means time.Now.
	Now func() time.Time

	// Scores replaces DefaultScores.
	Scores *Scores
}

// Scores are the scores of a result by outcome.
type Scores struct {
	Pass       float64 // an aligned identity passed
	Reject     float64 // fail, and the disposition applied is reject
	Quarantine float64 // fail, and the disposition applied is quarantine
	Monitor    float64 // fail, and the disposition applied is none
	None       float64 // no usable policy record
	TempError  float64 // a DNS failure, or an aligned identity's temperror
	PermError  float64 // an author domain that is no domain name
	BadFrom    float64 // Checker only: added when the From field is malformed or names several authors
}

// DefaultScores are the scores used when Options.Scores is nil. The demand
// (Reject, Quarantine) does the work for domains that ask for it; the
// scores keep the signal for policies that ask for nothing, in rspamd's
// proportions (DMARC_POLICY_ALLOW -0.5, REJECT 2, QUARANTINE 1.5, SOFTFAIL
// 0.1) scaled up a little to this project's thresholds.
var DefaultScores = Scores{
	Pass:       -1,
	Reject:     5,
	Quarantine: 3,
	Monitor:    0.5,
	PermError:  0.5,
	BadFrom:    3,
}

// New returns a Checker that looks records up through r. o may be nil.
// New copies o and the scores: later changes to them do not affect the
// Checker.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r}
	if o != nil {
		c.o = *o
	}
	if c.o.Random == nil {
		c.o.Random = rand.IntN
	}
	if c.o.Now == nil {
		c.o.Now = time.Now
	}
	sc := DefaultScores
	if c.o.Scores != nil {
		sc = *c.o.Scores
	}
	c.o.Scores = &sc
	return c
}

// Checker is the DMARC check of the Data stage: a verdict.Check. It reads
// the results of the spf and dkim checks from the session. It is a
// verdict.Dependent: a Policy that runs dkim at the same stage starts dmarc
// once dkim has finished. A Checker that finds no dkim result evaluates
// with SPF alone. It is a verdict.Prefetcher too.
type Checker struct {
	r Resolver
	o Options
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// After returns the checks whose results DMARC evaluates: spf and dkim.
func (c *Checker) After() []string { return []string{spfName, dkimName} }

// maxAuthors bounds the author domains of one message that are evaluated.
// A message naming more is refused: its strictest policy could hide past
// any bound, and no real message has that many authors' domains.
const maxAuthors = 8

// Check evaluates DMARC for the author domains of s.Message (see Authors)
// with the latest results of the spf and dkim checks in s.Results.
//
// Every author domain is evaluated and the strictest outcome applies
// (RFC 9989 §11.5; RFC 7489 §6.6.1): the one with the most severe demand,
// then the highest score; Pass only when every domain passes. A message
// with several author domains, or whose From fields do not parse as RFC
// 5322 (then the domains are the ones a lenient reader finds), also gets
// Scores.BadFrom. A message whose From names no domain, or more than
// eight, is refused 550 5.7.26 unless Options.AcceptNoAuthor (then
// PermError); Options.RejectMultipleAuthors refuses any message with more
// than one author domain.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	a, err := Authors(bytes.NewReader(s.Message))
	switch {
	case err != nil:
		return c.badFrom("From field not read: "+err.Error(), err)
	case len(a.Domains) == 0:
		return c.badFrom("no author domain in the From field", ErrNoFrom)
	case len(a.Domains) > maxAuthors:
		return c.refuse(strconv.Itoa(len(a.Domains)) + " author domains in From, more than " + strconv.Itoa(maxAuthors))
	case len(a.Domains) > 1 && c.o.RejectMultipleAuthors:
		return c.refuse(strconv.Itoa(len(a.Domains)) + " author domains in From: " + strings.Join(a.Domains, ", "))
	}
	var results []verdict.Result
	for _, name := range []string{spfName, dkimName} {
		if r, ok := s.Result(name); ok {
			results = append(results, r)
		}
	}
	var res verdict.Result
	var auth []authres.Result
	for i, d := range a.Domains {
		o := c.evaluate(ctx, d, results)
		if c.o.Store != nil && o.disc.txt != "" && o.rec != nil {
			c.o.Store.Add(ctx, c.evaluation(s, o))
		}
		auth = append(auth, o.res.Auth...)
		if i == 0 || stricter(o.res, res) {
			res = o.res
		}
	}
	res.Auth = auth
	if len(a.Domains) > 1 || a.Fields > 1 || a.Malformed {
		res.Score += c.o.Scores.BadFrom
		what := "malformed From field"
		if a.Fields > 1 {
			what = strconv.Itoa(a.Fields) + " From fields"
		}
		if len(a.Domains) > 1 {
			what = strconv.Itoa(len(a.Domains)) + " author domains (" + strings.Join(a.Domains, ", ") + "), strictest applied"
		}
		res.Reason = verdict.Printable(res.Reason + "; " + what)
	}
	return res
}

// stricter reports whether a is a stricter outcome than b: a more severe
// demand, or the same demand and a higher score.
func stricter(a, b verdict.Result) bool {
	if a.Action != b.Action {
		return a.Action > b.Action
	}
	return a.Score > b.Score
}

// badFrom is the result for a message whose From names no domain.
func (c *Checker) badFrom(reason string, err error) verdict.Result {
	if !c.o.AcceptNoAuthor {
		res := c.refuse(reason)
		res.Err = err
		return res
	}
	return verdict.Result{
		Check:  Name,
		Status: verdict.PermError,
		Score:  c.o.Scores.BadFrom,
		Reason: verdict.Printable(reason),
		Auth:   []authres.Result{&authres.GenericResult{Method: Name, Value: authres.ResultPermError, Params: map[string]string{}}},
		Err:    err,
	}
}

// refuse is a Reject demand for a From field DMARC cannot evaluate safely.
func (c *Checker) refuse(reason string) verdict.Result {
	return verdict.Result{
		Check:    Name,
		Status:   verdict.PermError,
		Score:    c.o.Scores.BadFrom,
		Action:   verdict.Reject,
		Code:     550,
		Enhanced: "5.7.26",
		Reason:   verdict.Printable(reason),
		Auth:     []authres.Result{&authres.GenericResult{Method: Name, Value: authres.ResultPermError, Params: map[string]string{}}},
	}
}

// Evaluate evaluates DMARC for the author domain fromDomain (the domain
// of the RFC5322.From address, see Authors), given the results of the spf
// and dkim checks (any results may be given: only their *authres.SPFResult
// and *authres.DKIMResult entries are read, the SPF identity being the
// domain of From, or of Helo for the null sender):
//
//  1. Policy discovery (RFC 9989 §4.10.1, see package doc): the record of
//     the author domain, else of its organizational domain, else of its
//     public suffix domain; under Options.PublicSuffixList, of the author
//     domain, else of OrgDomain (RFC 7489 §6.6.3). No record, or several
//     where RFC 7489 stops, is Status None. A record with an invalid p=,
//     sp= or np= and no valid rua= is no policy either. A DNS failure that
//     could change the outcome is TempError.
//  2. Alignment (RFC 9989 §4.4, §4.10.2): an identity aligns when it
//     equals the author domain, or, in relaxed mode (aspf=, adkim=), when
//     both have the same organizational domain. Pass if an aligned
//     identity passed. Otherwise, if an aligned identity had a temperror
//     (or its alignment could not be decided for a DNS failure),
//     TempError and no policy: its pass might have been the one that
//     counts.
//  3. Disposition: p= for the author domain's own record; for a parent's,
//     np= if the author domain does not exist (no MX, A or AAAA
//     records), else sp=, each falling back to p=. t=y applies the next
//     weaker disposition (RFC 9989 §4.7); under PublicSuffixList, pct=
//     below 100 does the same to a message left out of the sample. Then
//     Options.Override.
//
// The result demands Reject with 550 5.7.26 (RFC 7372 §3.2) when the
// disposition applied is reject, Quarantine when it is quarantine, and
// nothing otherwise; a DNS failure never demands anything. Auth holds one
// dmarc result with header.from, and, once a policy is found,
// policy.dmarc, the disposition applied (RFC 9989 §9.1), and
// policy.published-domain-policy, the one published.
func (c *Checker) Evaluate(ctx context.Context, fromDomain string, results ...verdict.Result) verdict.Result {
	return c.evaluate(ctx, fromDomain, results).res
}

// outcome is what an evaluation found, for the result and for reports.
type outcome struct {
	res       verdict.Result
	from      string
	disc      discovery
	rec       *record
	published Disposition // the disposition the record asks for this domain (p, sp or np)
	applied   Disposition // after t=/pct= and Override; "" without a policy
	dkimOK    bool        // an aligned DKIM identity passed
	spfOK     bool        // an aligned SPF identity passed
	overrides []Override
	ids       []identity
}

// maxIdentities bounds the identities whose organizational domains one
// evaluation looks up (eight names each at most). An identity equal to the
// author domain needs no lookup and is never left out.
const maxIdentities = 8

func (c *Checker) evaluate(ctx context.Context, fromDomain string, results []verdict.Result) (o outcome) {
	from, err := dnsname.Normalize(fromDomain)
	if err != nil {
		o.res = verdict.Result{Status: verdict.PermError, Err: err,
			Reason: "From domain " + verdict.Printable(fromDomain) + " is no domain name: " + err.Error()}
		return c.finish(o, verdict.Printable(fromDomain))
	}
	o.from = from
	o.res.Domain = from
	if err := ctx.Err(); err != nil {
		o.res.Status, o.res.Err, o.res.Reason = verdict.TempError, err, "evaluation not started"
		return c.finish(o, from)
	}
	o.ids = identities(results)

	// 1. Policy discovery. All the names the evaluation may need are
	// asked at once: the author domain's walk and those of the
	// identities that may align in relaxed mode.
	l := newLookups(ctx, c.r)
	defer l.wait()
	if c.o.PublicSuffixList {
		o.disc, err = discoverPSL(l, from)
	} else {
		n := 0
		l.start(walkNames(from)...)
		for _, id := range o.ids {
			if id.domain != "" && id.domain != from && (id.value == authres.ResultPass || id.value == authres.ResultTempError) && n < maxIdentities {
				l.start(walkNames(id.domain)...)
				n++
			}
		}
		o.disc, err = discoverWalk(l, from)
	}
	switch {
	case err != nil:
		o.res.Status, o.res.Err, o.res.Reason = verdict.TempError, err, err.Error()
		return c.finish(o, from)
	case o.disc.multi > 1:
		o.res.Status = verdict.None
		o.res.Reason = strconv.Itoa(o.disc.multi) + " DMARC records at _dmarc." + o.disc.domain + ", none applies"
		return c.finish(o, from)
	case o.disc.txt == "":
		o.res.Status, o.res.Reason = verdict.None, "no DMARC record for "+from
		return c.finish(o, from)
	}
	where := o.disc.domain
	o.rec, err = parseRecord(o.disc.txt, c.o.PublicSuffixList)
	if err != nil {
		o.res.Status, o.res.Reason = verdict.None, "DMARC record at _dmarc."+where+" has "+err.Error()
		return c.finish(o, from)
	}
	rec := o.rec
	tag := "p"
	o.published = rec.p
	if where != from {
		gone := false
		if rec.np != "" {
			ok, err := exists(ctx, c.r, from)
			if err != nil {
				o.res.Status, o.res.Err = verdict.TempError, err
				o.res.Reason = from + ": DNS failure looking up whether it exists (np=)"
				return c.finish(o, from)
			}
			gone = !ok
		}
		switch {
		case gone:
			o.published, tag = rec.np, "np"
		case rec.sp != "":
			o.published, tag = rec.sp, "sp"
		}
	}

	// 2. Alignment.
	passed, temp := c.align(l, &o)
	switch {
	case passed != "":
		o.res.Status, o.res.Reason = verdict.Pass, from+": aligned "+passed+" pass"
		o.applied = None
		return c.finish(o, from)
	case temp != "":
		o.res.Status, o.res.Reason = verdict.TempError, from+": no aligned pass, aligned "+temp
		return c.finish(o, from)
	}

	// 3. Disposition.
	d, how := o.published, tag+"="+string(o.published)
	if d != None {
		switch {
		case c.o.PublicSuffixList && rec.pct < 100 && c.o.Random(100) >= rec.pct:
			d = d.weaker()
			how += ", sampled out by pct=" + strconv.Itoa(rec.pct)
			o.overrides = append(o.overrides, Override{Type: "sampled_out", Comment: "pct=" + strconv.Itoa(rec.pct)})
		case !c.o.PublicSuffixList && rec.testing:
			d = d.weaker()
			how += ", t=y testing"
			o.overrides = append(o.overrides, Override{Type: "policy_test_mode", Comment: "t=y"})
		}
	}
	if c.o.Override != nil {
		if p := c.o.Override(from, d); p != d && p.valid() {
			d = p
			how += ", local policy"
			o.overrides = append(o.overrides, Override{Type: "local_policy"})
		}
	}
	o.applied = d
	o.res.Status = verdict.Fail
	o.res.Reason = from + ": no aligned SPF or DKIM pass, policy " + string(d) + " (" + how + ")"
	if where != from {
		o.res.Reason += " from _dmarc." + where
	}
	switch d {
	case Reject:
		o.res.Action, o.res.Code, o.res.Enhanced = verdict.Reject, 550, "5.7.26"
	case Quarantine:
		o.res.Action = verdict.Quarantine
	}
	return c.finish(o, from)
}

// align compares the identities with the author domain under the
// record's alignment modes. It returns a description of the first aligned
// identity that passed ("" if none), and of the first aligned one with a
// temperror or whose alignment a DNS failure left undecided.
func (c *Checker) align(l *lookups, o *outcome) (passed, temp string) {
	n := 0
	for _, id := range o.ids {
		if id.domain == "" || id.value != authres.ResultPass && id.value != authres.ResultTempError {
			continue
		}
		strict := o.rec.aspfStrict
		if id.method == dkimName {
			strict = o.rec.adkimStrict
		}
		desc := strings.ToUpper(id.method) + " (" + id.domain + ")"
		aligned := id.domain == o.from
		if !aligned && !strict {
			if c.o.PublicSuffixList {
				aligned = alignedPSL(o.from, id.domain, false)
			} else if n < maxIdentities {
				n++
				org, _, err := orgWalk(l, id.domain)
				if err != nil || o.disc.org == "" {
					if temp == "" {
						temp = desc + " alignment undecided: DNS failure"
					}
					continue
				}
				aligned = org == o.disc.org
			}
		}
		if !aligned {
			continue
		}
		if id.value == authres.ResultPass {
			if id.method == dkimName {
				o.dkimOK = true
			} else {
				o.spfOK = true
			}
			if passed == "" {
				passed = desc
			}
		} else if temp == "" {
			temp = desc + " temperror"
		}
	}
	return passed, temp
}

// finish completes a result: check name, score, and the
// Authentication-Results entry.
func (c *Checker) finish(o outcome, from string) outcome {
	res := &o.res
	res.Check = Name
	sc := c.o.Scores
	var value authres.ResultValue
	switch res.Status {
	case verdict.Pass:
		res.Score, value = sc.Pass, authres.ResultPass
	case verdict.Fail:
		value = authres.ResultFail
		switch o.applied {
		case Reject:
			res.Score = sc.Reject
		case Quarantine:
			res.Score = sc.Quarantine
		default:
			res.Score = sc.Monitor
		}
	case verdict.TempError:
		res.Score, value = sc.TempError, authres.ResultTempError
	case verdict.PermError:
		res.Score, value = sc.PermError, authres.ResultPermError
	default:
		res.Score, value = sc.None, authres.ResultNone
	}
	params := map[string]string{"header.from": from}
	// policy.dmarc is the disposition applied (RFC 9989 §9.1 registers
	// it); policy.published-domain-policy is the one the domain asked for,
	// as Authentication-Milter and Fastmail write it. (Their
	// policy.applied-disposition would repeat policy.dmarc, and the field
	// has to stay short.)
	if o.applied != "" {
		params["policy.dmarc"] = string(o.applied)
		params["policy.published-domain-policy"] = string(o.published)
	}
	res.Auth = []authres.Result{&authres.GenericResult{Method: Name, Value: value, Params: params}}
	res.Reason = verdict.Printable(res.Reason)
	return o
}

// identity is one authenticated identifier from the spf or dkim results.
type identity struct {
	method   string // spfName or dkimName
	domain   string // normalized; "" when it is no domain name
	raw      string // as given, for reports
	value    authres.ResultValue
	selector string // DKIM s=, from the dkim package's reason
	scope    string // SPF: "mfrom" or "helo"
}

// identities collects the SPF and DKIM identities of results.
func identities(results []verdict.Result) []identity {
	var ids []identity
	for _, r := range results {
		for _, a := range r.Auth {
			var id identity
			switch a := a.(type) {
			case *authres.SPFResult:
				id = identity{method: spfName, value: a.Value, raw: a.From, scope: "mfrom"}
				if id.raw == "" {
					id.raw, id.scope = a.Helo, "helo"
				}
				if i := strings.LastIndexByte(id.raw, '@'); i >= 0 {
					id.raw = id.raw[i+1:]
				}
				id.raw = strings.TrimSuffix(id.raw, ">") // "<a@b>"
			case *authres.DKIMResult:
				id = identity{method: dkimName, value: a.Value, raw: a.Domain}
				if s, ok := strings.CutPrefix(a.Reason, "s="); ok {
					id.selector, _, _ = strings.Cut(s, ":")
				}
			default:
				continue
			}
			id.domain, _ = dnsname.Normalize(id.raw)
			ids = append(ids, id)
		}
	}
	return ids
}
