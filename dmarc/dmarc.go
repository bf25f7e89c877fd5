// Package dmarc evaluates DMARC (RFC 7489): whether the domain of the
// RFC5322.From field aligns with a domain that SPF or DKIM authenticated,
// and what the From domain's policy asks for when it does not.
//
// go-msgauth/dmarc parses the records; discovery (with the organizational
// domain from golang.org/x/net/publicsuffix, see OrgDomain), alignment,
// sp=, np= (RFC 9091), pct= sampling and the resulting demand are this
// package's. Check takes the SPF and DKIM results as the spf and dkim
// packages produce them, reading only their Auth entries, so the packages
// stay independent.
package dmarc

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/internal/dnsname"
	"github.com/mtaguard/mtaguard/verdict"
)

// Resolver looks up DMARC records, and the A, AAAA and MX records that say
// whether a From domain exists (for np=, RFC 9091). *net.Resolver
// satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Scores are the scores of a result by outcome.
type Scores struct {
	Pass       float64 // an aligned identity passed
	Reject     float64 // fail, and the policy applied is reject
	Quarantine float64 // fail, and the policy applied is quarantine
	Monitor    float64 // fail, and the policy applied is none
	None       float64 // no usable policy record
	TempError  float64 // a DNS failure, or an aligned identity's temperror
	PermError  float64 // a record that does not parse, or a From domain that is no domain
	BadFrom    float64 // Checker only: the message has no single From domain (RFC 7489 §6.6.1)
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

// Options change how DMARC is evaluated. A nil *Options means the
// defaults.
type Options struct {
	// Random returns a number in [0, n), for pct= sampling. nil means
	// math/rand/v2's IntN. Tests pass a fixed one.
	Random func(n int) int

	// Override, if set, is local policy (RFC 7489 §6.7): it gets the From
	// domain and the policy DMARC would apply, after pct= sampling, and
	// returns the one to apply, e.g. quarantine instead of reject for
	// mailing-list domains. The reason then says "local policy".
	Override func(fromDomain string, p Policy) Policy

	// Scores replaces DefaultScores.
	Scores *Scores
}

// Check evaluates DMARC for the RFC5322.From domain fromDomain (see From)
// with the default options, given the results of the spf and dkim checks
// (any results may be given: only their *authres.SPFResult and
// *authres.DKIMResult entries are read). See Checker.Evaluate.
func Check(ctx context.Context, r Resolver, fromDomain string, results ...verdict.Result) verdict.Result {
	return New(r, nil).Evaluate(ctx, fromDomain, results...)
}

// Checker is the DMARC check of the Data stage: a verdict.Check. It reads
// the results of the spf and dkim checks from the session. It is a
// verdict.Dependent: a Policy that runs dkim at the same stage starts dmarc
// once dkim has finished. A Checker that finds no dkim result evaluates
// with SPF alone.
type Checker struct {
	r Resolver
	o Options
}

// New returns a Checker that looks records up through r. o may be nil.
func New(r Resolver, o *Options) *Checker {
	c := &Checker{r: r}
	if o != nil {
		c.o = *o
	}
	if c.o.Random == nil {
		c.o.Random = rand.IntN
	}
	if c.o.Scores == nil {
		sc := DefaultScores
		c.o.Scores = &sc
	}
	return c
}

// Name returns "dmarc".
func (c *Checker) Name() string { return "dmarc" }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// After returns the checks whose results DMARC evaluates: "spf" and "dkim".
func (c *Checker) After() []string { return []string{"spf", "dkim"} }

// Check evaluates DMARC for the From domain of s.Message with the latest
// results of the spf and dkim checks in s.Results. A message without
// exactly one From domain gets PermError and Scores.BadFrom: RFC 7489
// §6.6.1 lets receivers reject it, which a policy does through its score
// thresholds or the weight of "dmarc".
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	from, err := From(bytes.NewReader(s.Message))
	if err != nil {
		return verdict.Result{
			Check:  "dmarc",
			Status: verdict.PermError,
			Score:  c.o.Scores.BadFrom,
			Reason: verdict.Printable(err.Error()),
			Auth:   []authres.Result{&authres.DMARCResult{Value: authres.ResultPermError, Reason: "no single From domain"}},
			Err:    err,
		}
	}
	var results []verdict.Result
	for _, name := range []string{"spf", "dkim"} {
		if r, ok := s.Result(name); ok {
			results = append(results, r)
		}
	}
	return c.Evaluate(ctx, from, results...)
}

// Evaluate evaluates DMARC (RFC 7489 §6.6) for the From domain fromDomain:
//
//  1. Policy discovery (§6.6.3): the DMARC records at _dmarc.<fromDomain>,
//     or, if there are none, at _dmarc.<organizational domain> (OrgDomain),
//     and at no name between. Several records, or none, mean no policy:
//     Status None. A record that does not parse is PermError; one without
//     a valid p= counts as p=none if it has a valid rua=, and as no policy
//     otherwise. A DNS failure is TempError.
//  2. Alignment (§3.1): the SPF identity (the domain of an SPFResult's
//     From, or its Helo when From is empty, for the null sender) and the
//     d= of each DKIMResult, compared with fromDomain strictly or relaxed
//     per aspf= and adkim=. Pass if an aligned identity passed. Otherwise,
//     if an aligned identity had a temperror, TempError and no policy:
//     its pass might have been the one that counts.
//  3. Policy (§6.6.4, RFC 9091 §4): np= when the record came from the
//     organizational domain and fromDomain does not exist, else sp= for a
//     record from the organizational domain, else p=. With pct= below 100
//     a message left out of the sample gets the next less strict policy.
//     Options.Override may then change it.
//
// The result demands Reject with 550 5.7.26 (RFC 7372 §3.2) when the policy
// applied is reject, Quarantine when it is quarantine, and nothing
// otherwise; a DNS failure never demands anything. Auth holds one
// *authres.DMARCResult whose From is fromDomain.
func (c *Checker) Evaluate(ctx context.Context, fromDomain string, results ...verdict.Result) verdict.Result {
	from, err := dnsname.Normalize(fromDomain)
	if err != nil {
		return c.result(verdict.Result{Status: verdict.PermError, Err: err,
			Reason: "From domain " + verdict.Printable(fromDomain) + " is no domain name: " + err.Error()}, verdict.Printable(fromDomain), "")
	}
	res := verdict.Result{Domain: from}
	if err := ctx.Err(); err != nil {
		res.Status, res.Err, res.Reason = verdict.TempError, err, "evaluation not started"
		return c.result(res, from, "")
	}

	// 1. Policy discovery.
	where := from
	recs, err := lookup(ctx, c.r, from)
	org := OrgDomain(from)
	if err == nil && len(recs) == 0 && org != "" && org != from {
		where = org
		recs, err = lookup(ctx, c.r, org)
	}
	switch {
	case err != nil:
		res.Status, res.Err = verdict.TempError, err
		res.Reason = "DNS failure looking up _dmarc." + where
		return c.result(res, from, "")
	case len(recs) == 0:
		res.Status, res.Reason = verdict.None, "no DMARC record for "+from
		return c.result(res, from, "")
	case len(recs) > 1:
		res.Status = verdict.None
		res.Reason = strconv.Itoa(len(recs)) + " DMARC records at _dmarc." + where + ", none applies"
		return c.result(res, from, "")
	}
	rec, err := parseRecord(recs[0])
	switch {
	case err == errNoPolicy:
		res.Status, res.Reason = verdict.None, "DMARC record at _dmarc."+where+" has "+err.Error()
		return c.result(res, from, "")
	case err != nil:
		res.Status, res.Err = verdict.PermError, err
		res.Reason = "DMARC record at _dmarc." + where + " is invalid: " + verdict.Printable(err.Error())
		return c.result(res, from, "")
	}

	// 2. Alignment.
	passed, temp := evaluate(from, rec, results)
	switch {
	case passed != "":
		res.Status, res.Reason = verdict.Pass, from+": aligned "+passed+" pass"
		return c.result(res, from, "")
	case temp != "":
		res.Status, res.Reason = verdict.TempError, from+": no aligned pass, aligned "+temp+" temperror"
		return c.result(res, from, "")
	}

	// 3. Policy.
	policy, tag := rec.p, "p"
	if where != from {
		gone := false
		if rec.np != "" {
			ok, err := exists(ctx, c.r, from)
			if err != nil {
				res.Status, res.Err = verdict.TempError, err
				res.Reason = from + ": no aligned pass; DNS failure looking up whether it exists (np=)"
				return c.result(res, from, "")
			}
			gone = !ok
		}
		switch {
		case gone:
			policy, tag = rec.np, "np"
		case rec.sp != "":
			policy, tag = rec.sp, "sp"
		}
	}
	how := tag + "=" + string(policy)
	if policy != PolicyNone && rec.pct < 100 && c.o.Random(100) >= rec.pct {
		policy = policy.weaker()
		how += ", sampled out by pct=" + strconv.Itoa(rec.pct)
	}
	if c.o.Override != nil {
		if p := c.o.Override(from, policy); p != policy && p.valid() {
			policy = p
			how += ", local policy"
		}
	}
	res.Status = verdict.Fail
	res.Reason = from + ": no aligned SPF or DKIM pass, policy " + string(policy) + " (" + how + ")"
	switch policy {
	case PolicyReject:
		res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.7.26"
	case PolicyQuarantine:
		res.Action = verdict.Quarantine
	}
	return c.result(res, from, policy)
}

// result completes res: check name, score, and the Authentication-Results
// entry.
func (c *Checker) result(res verdict.Result, from string, applied Policy) verdict.Result {
	res.Check = "dmarc"
	sc := c.o.Scores
	var value authres.ResultValue
	switch res.Status {
	case verdict.Pass:
		res.Score, value = sc.Pass, authres.ResultPass
	case verdict.Fail:
		value = authres.ResultFail
		switch applied {
		case PolicyReject:
			res.Score = sc.Reject
		case PolicyQuarantine:
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
	a := &authres.DMARCResult{Value: value, From: from}
	if applied != "" {
		a.Reason = "policy " + string(applied)
	}
	res.Auth = []authres.Result{a}
	res.Reason = verdict.Printable(res.Reason)
	return res
}

// evaluate compares the identities in results with the From domain under
// rec's alignment modes. It returns a description of the first aligned
// identity that passed ("" if none), and of the first aligned one with a
// temperror.
func evaluate(from string, rec *record, results []verdict.Result) (passed, temp string) {
	for _, r := range results {
		for _, a := range r.Auth {
			var method, domain string
			var value authres.ResultValue
			var strict bool
			switch a := a.(type) {
			case *authres.SPFResult:
				method, value, strict = "SPF", a.Value, rec.aspfStrict
				domain = a.From
				if domain == "" {
					domain = a.Helo
				}
				if i := strings.LastIndexByte(domain, '@'); i >= 0 {
					domain = domain[i+1:]
				}
				domain = strings.TrimSuffix(domain, ">") // "<a@b>"
			case *authres.DKIMResult:
				method, value, strict = "DKIM", a.Value, rec.adkimStrict
				domain = a.Domain
			default:
				continue
			}
			if value != authres.ResultPass && value != authres.ResultTempError {
				continue
			}
			d, err := dnsname.Normalize(domain)
			if err != nil || !aligned(from, d, strict) {
				continue
			}
			desc := method + " (" + d + ")"
			if value == authres.ResultPass && passed == "" {
				passed = desc
			}
			if value == authres.ResultTempError && temp == "" {
				temp = desc
			}
		}
	}
	return passed, temp
}
