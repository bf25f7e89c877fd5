package limit

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in its results.
const Name = "limit"

// Options configure a Checker. A nil *Options has no rules.
type Options struct {
	// Rules are the limits the Checker applies. See Checker.Stage for
	// which it counts when.
	Rules []Rule

	// Lease is how long a connection's concurrency lease lasts without
	// being renewed (see Checker.Acquire): longer than the server's
	// longest wait for a command or data. Default 10 minutes.
	Lease time.Duration

	// Defer makes a store failure a temporary refusal (421 4.3.0
	// at Connect, 451 4.3.0 otherwise). By default a store failure lets
	// the client through, with a TempError result that says so.
	Defer bool

	// Scores replaces DefaultScores.
	Scores *Scores

	// Now is the clock of Check (Evaluate and Report take the time);
	// nil means time.Now.
	Now func() time.Time
}

// Scores are the scores of limit results. A limit is a demand (a
// temporary refusal), not evidence of spam, so the defaults are 0.
type Scores struct {
	Within     float64 // under every limit
	Over       float64 // over a limit
	StoreError float64 // the store failed
}

// DefaultScores are the scores used when Options.Scores is nil. Do not
// modify it; set Options.Scores instead.
var DefaultScores = Scores{}

// New returns a Checker that applies o's rules with the counters in st.
// It copies o: later changes to it have no effect.
func New(st Store, o *Options) *Checker {
	if o == nil {
		o = &Options{}
	}
	c := &Checker{st: st, lease: o.Lease, deferFail: o.Defer, scores: DefaultScores, now: o.Now}
	c.mem, _ = st.(*Memory)
	if c.lease <= 0 {
		c.lease = defaultLease
	}
	if o.Scores != nil {
		c.scores = *o.Scores
	}
	if c.now == nil {
		c.now = time.Now
	}
	for _, r := range o.Rules {
		x := resolveRule(r)
		c.rules = append(c.rules, x)
		c.stage = max(c.stage, x.Counter.stage())
	}
	return c
}

// Checker applies rate and concurrency limits. It is a verdict.Check, and
// it is safe for concurrent use.
type Checker struct {
	st        Store
	mem       *Memory // st, when it is a Memory: called directly, so decisions do not allocate
	rules     []rule
	stage     verdict.Stage
	lease     time.Duration
	deferFail bool
	scores    Scores
	now       func() time.Time
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns the latest stage that a rule of c needs: Rcpt with a
// Recipients or UnknownRecipients rule, else Mail with a Messages rule,
// else Connect. Put rules of different stages in different Checkers.
func (c *Checker) Stage() verdict.Stage { return c.stage }

// Check applies the limits to the session's facts at c's clock: see
// Evaluate.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, Facts{IP: s.IP, User: s.AuthUser, Sender: s.MailFrom, Rcpt: s.Rcpt}, c.now())
}

// Evaluate applies the limits to f at time now. It counts one event on
// each Connects, Messages and Recipients rule (on each rule it fits:
// the rules are independent, so an event one refuses still counts on
// the others, as with Exim's ratelimit conditions in turn), and asks each UnknownRecipients, AuthFailures and Errors rule
// whether one more reported event would fit (counting nothing). Rules
// whose subject f lacks (no AUTH identity, the null sender) and
// Connections rules (see Acquire) are skipped.
//
// Over a limit the result demands TempFail: 421 4.7.0 for connections and
// errors (the server then closes the connection), 450 4.7.1 for messages
// and recipients, 454 4.7.0 for failed AUTH attempts (RFC 4954 §6: the
// server answers the next AUTH with it).
func (c *Checker) Evaluate(ctx context.Context, f Facts, now time.Time) verdict.Result {
	if c.st == nil {
		return c.storeFailed(errNoStore)
	}
	if c.mem != nil && len(c.rules) <= maxRules {
		var a [maxRules]Op
		ops := c.ops(a[:0], &f, false, 0)
		c.mem.Do(ctx, now, ops)
		return c.result(ops, nil, false)
	}
	ops := c.ops(make([]Op, 0, len(c.rules)), &f, false, 0)
	err := c.st.Do(ctx, now, ops)
	return c.result(ops, err, false)
}

// Report counts one event of counter ev (UnknownRecipients, AuthFailures
// or Errors) that the server saw for f at time now, on every rule of c
// that counts ev. When that fills a counter (no further event would fit),
// the result demands TempFail with 421 4.7.0: the server gives the client
// its reply to the failed command (535 5.7.8 for a failed AUTH), then 421
// and closes the connection.
func (c *Checker) Report(ctx context.Context, ev Counter, f Facts, now time.Time) verdict.Result {
	if c.st == nil {
		return c.storeFailed(errNoStore)
	}
	ops := c.ops(make([]Op, 0, len(c.rules)), &f, true, ev)
	err := c.st.Do(ctx, now, ops)
	return c.result(ops, err, true)
}

// ops appends the operations of a decision on f to ops: Report's (report
// true: Take on the rules counting ev) or Evaluate's.
func (c *Checker) ops(ops []Op, f *Facts, report bool, ev Counter) []Op {
	for i := range c.rules {
		r := &c.rules[i]
		if r.Counter == Connections || report && r.Counter != ev {
			continue
		}
		k, ok := r.key(f)
		if !ok {
			continue
		}
		kind := Take
		if !report && r.Counter.event() {
			kind = Peek
		}
		ops = append(ops, Op{Key: k, Kind: kind, Rate: r.Rate, N: 1})
	}
	return ops
}

// result turns the ops' outcome into a Result.
func (c *Checker) result(ops []Op, err error, report bool) verdict.Result {
	if err != nil {
		return c.storeFailed(err)
	}
	for i := range ops {
		op := &ops[i]
		if !op.OK || report && op.Left == 0 {
			return c.over(op, report)
		}
	}
	if len(ops) == 0 {
		return verdict.Result{Check: Name, Status: verdict.None, Reason: "no limit applies"}
	}
	return verdict.Result{Check: Name, Status: verdict.Pass, Score: c.scores.Within, Reason: "within limits"}
}

var errNoStore = errors.New("limit: no store")

func (c *Checker) storeFailed(err error) verdict.Result {
	r := verdict.Result{Check: Name, Status: verdict.TempError, Score: c.scores.StoreError, Err: err}
	if !c.deferFail {
		r.Reason = "limit store failed, not limited"
		return r
	}
	r.Reason = "limit store failed, try again later"
	r.Action, r.Code, r.Enhanced = verdict.TempFail, 451, "4.3.0"
	if c.stage == verdict.Connect {
		r.Code = 421
	}
	return r
}

// over is the result of a counter over its limit.
func (c *Checker) over(op *Op, report bool) verdict.Result {
	r := verdict.Result{Check: Name, Status: verdict.Fail, Score: c.scores.Over, Action: verdict.TempFail}
	what := "connections"
	switch op.Key.Counter {
	case Messages:
		what = "messages"
	case Recipients:
		what = "recipients"
	case UnknownRecipients:
		what = "unknown recipients"
	case AuthFailures:
		what = "failed authentications"
	case Errors:
		what = "errors"
	}
	r.Reason = "too many " + what + " " + c.about(&op.Key)
	switch {
	case report || op.Key.Counter == Connections || op.Key.Counter == Connects || op.Key.Counter == Errors:
		r.Code, r.Enhanced = 421, "4.7.0"
	case op.Key.Counter == AuthFailures:
		r.Code, r.Enhanced = 454, "4.7.0"
	default:
		r.Code, r.Enhanced = 450, "4.7.1"
	}
	if op.Retry > 0 {
		r.Reason += ", try again in " + strconv.FormatInt(int64((op.Retry+time.Second-1)/time.Second), 10) + "s"
	} else {
		r.Reason += ", try again later"
	}
	return r
}

// about names the counter's subject for a reason.
func (c *Checker) about(k *Key) string {
	if k.Prefix.IsValid() {
		return "from " + k.subject()
	}
	for i := range c.rules {
		r := &c.rules[i]
		if r.Name != k.Rule || r.Counter != k.Counter {
			continue
		}
		switch r.Subject {
		case User:
			return "by user " + verdict.Printable(k.Name)
		case Sender:
			return "from sender " + verdict.Printable(k.Name)
		case RecipientDomain:
			return "to " + verdict.Printable(k.Name)
		}
	}
	return verdict.Printable(k.Name)
}

// maxRules bounds the rules of a Checker whose decisions do not allocate.
const maxRules = 4

// stage is the stage where a counter's facts are first known.
func (c Counter) stage() verdict.Stage {
	switch c {
	case Messages:
		return verdict.Mail
	case Recipients, UnknownRecipients:
		return verdict.Rcpt
	}
	return verdict.Connect
}
