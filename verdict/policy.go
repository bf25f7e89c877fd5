package verdict

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/mtaguard/mtaguard/internal/netset"
)

// DefaultTimeout is the stage deadline of a Policy whose Timeout is zero.
// It is shorter than the five minutes RFC 5321 §4.5.3.2 lets a client wait
// for a reply, and long enough for a few DNS retries.
const DefaultTimeout = 20 * time.Second

// ErrTimeout is the Err of the TempError result given to a check that was
// still running at the stage deadline or when ctx was done.
var ErrTimeout = errors.New("verdict: check did not finish before the stage deadline")

// Policy runs checks and turns their results into decisions. The zero value
// runs no check and accepts everything. A Policy must not be modified while
// Evaluate runs; it is safe for concurrent use otherwise.
type Policy struct {
	Checks     []Check
	Weights    map[string]float64 // multiplier of a check's Score; missing = 1
	Quarantine float64            // total Score at which the action is at least Quarantine (0 = off)
	Reject     float64            // total Score at which the action is Reject (0 = off)

	// Timeout bounds each stage: a check still running then is abandoned
	// and given a TempError result. Zero means DefaultTimeout.
	Timeout time.Duration

	// TrustedNets are the networks of our own clients and hops (Postfix's
	// mynetworks, SpamAssassin's trusted_networks), stated once for every
	// check: when it is not empty, Evaluate sets Session.Trusted to whether
	// the session's IP is in one of them before any check runs, and the
	// checks, Exempt and the server read that one fact. IPv4-mapped IPv6
	// addresses and prefixes count as the IPv4 ones they carry.
	TrustedNets []netip.Prefix

	// Exempt, if set, says which sessions the score thresholds do not apply
	// to, e.g. authenticated submission or trusted clients
	// (s.AuthUser != "" || s.Trusted). The checks still run and their
	// scores are still reported; only demands (a relay denial, a greylist
	// deferral) can then refuse the session.
	Exempt func(*Session) bool

	// Monitor makes the policy a dry run, for rolling it out in front of
	// live mail: every check runs, demands and thresholds are evaluated as
	// usual and the Decision's Would, Score, Results and
	// Authentication-Results say what the policy found, but its Action is
	// Accept and its reply 250. Nothing is refused: not even a relay
	// attempt, so a server in monitor mode must not forward mail it would
	// not otherwise have taken (a border MTA that delivers only to local
	// mailboxes is safe).
	Monitor bool

	// Replies replaces the default reply text of an action: "OK" for
	// Accept and Quarantine, "Try again later" for TempFail, "Refused by
	// policy" for Reject. The reasons that drove the decision follow the
	// text after ": " (a refusal demanded by a check with no text of the
	// policy's own is answered with its reasons alone, as Postfix answers
	// "554 5.7.1 Relay access denied"). Texts are cleaned with Printable.
	Replies map[Action]string

	// Observe, if set, is called once per Decision, when Evaluate or
	// EvaluateAll returns it, with what a server needs to count and time
	// its decisions (metrics). It runs on the caller's goroutine, so it
	// must be quick; it must not keep the Observation's slices.
	Observe func(Observation)

	// Logger, if set, receives one debug record per evaluated stage.
	Logger *slog.Logger
}

// Decision is the outcome of evaluating a stage.
type Decision struct {
	Action   Action
	Score    float64
	Code     int    // SMTP reply code: 250, 451, 550, 554, ...
	Enhanced string // RFC 3463: "2.0.0", "4.7.1", "5.7.1", ...
	Message  string
	Results  []Result

	// Would is the action the policy reached. It equals Action, except
	// under Policy.Monitor, where Action is always Accept and Would says
	// what the policy would have done.
	Would Action
}

// Observation is what Policy.Observe learns of one decision.
type Observation struct {
	Stage    Stage // the stage evaluated; Data for EvaluateAll
	Decision Decision
	Checks   []CheckRun    // the checks this evaluation ran, in the Policy's order
	Elapsed  time.Duration // the whole evaluation
}

// CheckRun is one check's part in an evaluation: its result and how long
// it ran (the stage deadline for a check abandoned there).
type CheckRun struct {
	Result  Result
	Elapsed time.Duration
}

// Evaluate runs every check of p whose Stage is stage, concurrently, appends
// their results to s.Results, stamped with the stage, and decides from all
// of s.Results (earlier stages included). A check that panics is given a
// TempError result with the panic in Err; a check still running at the
// stage deadline (Timeout) or when ctx is done is abandoned with a TempError
// result, so Evaluate returns promptly whatever the checks do.
//
// Checks must not modify s; Evaluate does (Results, and Trusted when
// p.TrustedNets is set), so one Session must not be evaluated by two
// goroutines at once.
func (p *Policy) Evaluate(ctx context.Context, s *Session, stage Stage) Decision {
	begin := time.Now()
	p.setTrusted(s)
	var checks []Check
	for _, c := range p.Checks {
		if c != nil && c.Stage() == stage {
			checks = append(checks, c)
		}
	}
	p.prefetch(ctx, s, func(c Check) bool { return c.Stage() > stage })
	var runs []CheckRun
	if len(checks) > 0 {
		runs = p.run(ctx, s, checks, func(Check) Stage { return stage })
		for _, r := range runs {
			s.Results = append(s.Results, r.Result)
		}
	}
	d := p.decide(s, stage)
	p.observe(ctx, s, stage, d, runs, begin)
	return d
}

// EvaluateAll runs the checks of every stage at once, for callers that
// know all the facts of a session from the start: a milter at the end of
// the message, a command that explains a decision, a test. Checks that
// depend on others (Dependent) wait for them; all other lookups start
// together, so the evaluation costs about the longest chain of dependent
// lookups rather than the sum of the stages. Rcpt checks see s.Rcpt. Each
// result is stamped with its check's Stage. The decision and its reply
// are those of the Data stage.
func (p *Policy) EvaluateAll(ctx context.Context, s *Session) Decision {
	begin := time.Now()
	p.setTrusted(s)
	var checks []Check
	for _, c := range p.Checks {
		if c != nil {
			checks = append(checks, c)
		}
	}
	p.Prefetch(ctx, s)
	var runs []CheckRun
	if len(checks) > 0 {
		runs = p.run(ctx, s, checks, Check.Stage)
		for _, r := range runs {
			s.Results = append(s.Results, r.Result)
		}
	}
	d := p.decide(s, Data)
	p.observe(ctx, s, Data, d, runs, begin)
	return d
}

// Prefetch starts, without waiting, the Prefetch of every check of p that
// is a Prefetcher, with the facts s holds now. Evaluate and EvaluateAll do
// it themselves for later stages; an SMTP server calls Prefetch when it
// learns a fact between stages, above all when it has read the header
// section of a message whose body is still arriving (s.Message holding the
// header alone): dkim then fetches the signers' keys, and dmarc the From
// domain's records, while the body is transferred, so that the Data stage
// finds them cached.
func (p *Policy) Prefetch(ctx context.Context, s *Session) {
	p.prefetch(ctx, s, func(Check) bool { return true })
}

// setTrusted sets s.Trusted from p.TrustedNets, if there are any.
func (p *Policy) setTrusted(s *Session) {
	if len(p.TrustedNets) > 0 {
		s.Trusted = netset.New(p.TrustedNets).Contains(s.IP)
	}
}

// timeout is the stage deadline.
func (p *Policy) timeout() time.Duration {
	if p.Timeout <= 0 {
		return DefaultTimeout
	}
	return p.Timeout
}

// weight returns the multiplier of a check's score.
func (p *Policy) weight(check string) float64 {
	if w, ok := p.Weights[check]; ok {
		return w
	}
	return 1
}

// decide turns all of s.Results into the decision of a stage: the most
// severe of the demands and of the score thresholds, with its reply.
func (p *Policy) decide(s *Session, stage Stage) Decision {
	d := Decision{Results: s.Results}
	demand := Accept
	for _, r := range s.Results {
		d.Score += p.weight(r.Check) * r.Score
		demand = max(demand, r.Action)
	}
	byScore := Accept
	if p.Exempt == nil || !p.Exempt(s) {
		switch {
		case p.Reject > 0 && d.Score >= p.Reject:
			byScore = Reject
		case p.Quarantine > 0 && d.Score >= p.Quarantine:
			byScore = Quarantine
		}
	}
	d.Action = max(demand, byScore)
	d.Would = d.Action
	if p.Monitor {
		d.Action = Accept
		d.Code, d.Enhanced = 250, acceptEnhanced(stage)
		d.Message = p.message(d, nil, false)
		return d
	}
	p.reply(&d, s.Results, stage, demand)
	return d
}

func (p *Policy) observe(ctx context.Context, s *Session, stage Stage, d Decision, runs []CheckRun, begin time.Time) {
	if p.Logger != nil {
		p.Logger.LogAttrs(ctx, slog.LevelDebug, "mtaguard decision",
			slog.String("stage", stage.String()), slog.String("ip", s.IP.String()),
			slog.String("action", d.Action.String()), slog.String("would", d.Would.String()),
			slog.Float64("score", d.Score), slog.Int("checks", len(runs)), slog.String("reply", d.String()))
	}
	if p.Observe != nil {
		p.Observe(Observation{Stage: stage, Decision: d, Checks: runs, Elapsed: time.Since(begin)})
	}
}
