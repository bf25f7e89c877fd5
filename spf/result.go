package spf

import (
	"net/netip"

	libspf "blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

var statusOf = map[libspf.Result]verdict.Status{
	libspf.None:      verdict.None,
	libspf.Neutral:   verdict.Neutral,
	libspf.Pass:      verdict.Pass,
	libspf.Fail:      verdict.Fail,
	libspf.SoftFail:  verdict.SoftFail,
	libspf.TempError: verdict.TempError,
	libspf.PermError: verdict.PermError,
}

// result turns an outcome into the check's result: status, score, demand
// and a reason fit for an SMTP reply.
func (c *Checker) result(o outcome, ip netip.Addr) verdict.Result {
	st, ok := statusOf[o.result]
	if !ok {
		st = verdict.PermError
	}
	sc := &c.scores
	res := verdict.Result{Check: Name, Status: st, Domain: o.domain}
	d := verdict.Printable(o.domain)
	a := ip.Unmap().WithZone("").String()
	switch st {
	case verdict.Pass:
		res.Score = sc.Pass
		res.Reason = d + " designates " + a + " as permitted sender"
	case verdict.Neutral:
		res.Score = sc.Neutral
		res.Reason = d + " neither permits nor denies " + a
	case verdict.None:
		res.Score = sc.None
		switch o.err {
		case errNoIP:
			res.Score, res.Reason = 0, "no client address to check"
		case errNoDomain:
			res.Reason = "no domain to check"
		default:
			res.Reason = d + " publishes no SPF record"
		}
	case verdict.SoftFail:
		res.Score = sc.SoftFail
		res.Reason = d + " does not designate " + a + " as permitted sender (softfail)"
	case verdict.Fail:
		res.Score = sc.Fail
		res.Reason = d + " does not designate " + a + " as permitted sender"
		if o.exp != "" {
			// RFC 7208 §6.2: the text is the domain's, and should be
			// shown as such.
			res.Reason = d + " explains: " + o.exp
		}
		if c.o.Reject {
			res.Action, res.Code, res.Enhanced = verdict.Reject, 550, "5.7.23"
		}
	case verdict.TempError:
		res.Score = sc.TempError
		res.Err = o.err
		res.Reason = "DNS failure evaluating the SPF record of " + d
		if c.o.Defer {
			res.Action, res.Code, res.Enhanced = verdict.TempFail, 451, "4.4.3"
		}
	case verdict.PermError:
		res.Score = sc.PermError
		res.Err = o.err
		res.Reason = "unusable SPF record at " + d
		if o.err != nil {
			res.Reason += ": " + o.err.Error()
		}
	}
	res.Reason = verdict.Printable(res.Reason)
	return res
}

// authValue is the Authentication-Results word of a status.
func authValue(s verdict.Status) authres.ResultValue {
	return authres.ResultValue(s.String())
}
