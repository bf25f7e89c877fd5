package verdict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
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

	// Exempt, if set, says which sessions the score thresholds do not apply
	// to, e.g. authenticated submission or clients in our own networks. The
	// checks still run and their scores are still reported; only demands
	// (a relay denial, a greylist deferral) can then refuse the session.
	Exempt func(*Session) bool

	// Replies replaces the default reply text of an action ("Service
	// unavailable, try again later", ...). The reasons that drove the
	// decision follow the text after ": ". Texts are cleaned with
	// Printable.
	Replies map[Action]string

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
}

// String renders the decision as an SMTP reply line, e.g.
// "554 5.7.1 Relay access denied".
func (d Decision) String() string {
	return strconv.Itoa(d.Code) + " " + d.Enhanced + " " + d.Message
}

// Evaluate runs every check of p whose Stage is stage, concurrently, appends
// their results to s.Results, and decides from all of s.Results (earlier
// stages included). A check that panics is given a TempError result with
// the panic in Err; a check still running at the stage deadline (Timeout)
// or when ctx is done is abandoned with a TempError result, so Evaluate
// returns promptly whatever the checks do.
//
// Checks must not modify s; Evaluate does, so one Session must not be
// evaluated by two goroutines at once.
func (p *Policy) Evaluate(ctx context.Context, s *Session, stage Stage) Decision {
	start := len(s.Results)
	var checks []Check
	for _, c := range p.Checks {
		if c != nil && c.Stage() == stage {
			checks = append(checks, c)
		}
	}
	p.prefetch(ctx, s, func(c Check) bool { return c.Stage() > stage })
	if len(checks) > 0 {
		s.Results = append(s.Results, p.run(ctx, s, checks)...)
	}
	d := p.decide(s, stage)
	if p.Logger != nil {
		p.Logger.LogAttrs(ctx, slog.LevelDebug, "mtaguard decision",
			slog.String("stage", stage.String()), slog.String("ip", s.IP.String()),
			slog.String("action", d.Action.String()), slog.Float64("score", d.Score),
			slog.Int("checks", len(s.Results)-start), slog.String("reply", d.String()))
	}
	return d
}

// EvaluateAll runs the checks of every stage at once, for callers that
// know all the facts of a session from the start: a milter at the end of
// the message, a command that explains a decision, a test. Checks that
// depend on others (Dependent) wait for them; all other lookups start
// together, so the evaluation costs about the longest chain of dependent
// lookups rather than the sum of the stages. Rcpt checks see s.Rcpt. The
// decision and its reply are those of the Data stage.
func (p *Policy) EvaluateAll(ctx context.Context, s *Session) Decision {
	var checks []Check
	for _, c := range p.Checks {
		if c != nil {
			checks = append(checks, c)
		}
	}
	p.Prefetch(ctx, s)
	if len(checks) > 0 {
		s.Results = append(s.Results, p.run(ctx, s, checks)...)
	}
	return p.decide(s, Data)
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

// prefetch starts, without waiting, the Prefetch of every check that
// wants it.
func (p *Policy) prefetch(ctx context.Context, s *Session, want func(Check) bool) {
	var pfs []Prefetcher
	for _, c := range p.Checks {
		if pf, ok := c.(Prefetcher); ok && want(c) {
			pfs = append(pfs, pf)
		}
	}
	if len(pfs) == 0 {
		return
	}
	facts := *s
	facts.Results = nil
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// The lookups may outlive this evaluation: that is the point. They
	// still end at the deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	var wg sync.WaitGroup
	for _, pf := range pfs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { _ = recover() }() // best effort: a panic only loses the prefetch
			pf.Prefetch(ctx, &facts)
		}()
	}
	go func() {
		wg.Wait()
		cancel()
	}()
}

func (p *Policy) run(ctx context.Context, s *Session, checks []Check) []Result {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	n := len(checks)
	results := make([]Result, n)
	nodes := make([]node, n)
	deps := dependencies(checks)
	// Buffered so that an abandoned check's goroutine can still deliver its
	// result and exit instead of blocking forever.
	ch := make(chan int, n)
	for i, c := range checks {
		nodes[i].check = c
		if deps[i] != nil {
			nodes[i].done = make(chan struct{})
		}
	}
	for i := range nodes {
		for _, d := range deps[i] {
			if nodes[d].done == nil {
				nodes[d].done = make(chan struct{})
			}
		}
	}
	// The checks get a copy of the session: one abandoned at the deadline
	// may still read it while the caller goes on changing s.
	snap := *s
	snap.Results = s.Results[:len(s.Results):len(s.Results)]
	for i := range nodes {
		go nodes[i].run(ctx, &snap, nodes, deps[i], i, ch)
	}
	done := make([]bool, n)
	for got := 0; got < n; got++ {
		select {
		case i := <-ch:
			results[i] = nodes[i].result
			done[i] = true
		case <-ctx.Done():
			for i, ok := range done {
				if !ok {
					results[i] = Result{
						Check:  checks[i].Name(),
						Status: TempError,
						Reason: "check did not finish in time",
						Err:    ErrTimeout,
					}
				}
			}
			return results
		}
	}
	return results
}

// node is one check of an evaluation. result is written once, by the
// check's goroutine, before done is closed and its index is sent.
type node struct {
	check  Check
	result Result
	done   chan struct{} // closed when result is set; nil if nothing waits
}

func (n *node) run(ctx context.Context, s *Session, nodes []node, deps []int, i int, ch chan<- int) {
	defer func() {
		if v := recover(); v != nil {
			n.result = Result{
				Check:  n.check.Name(),
				Status: TempError,
				Reason: "internal error in check",
				Err:    fmt.Errorf("verdict: check %s panicked: %v", n.check.Name(), v),
			}
		}
		if n.done != nil {
			close(n.done)
		}
		ch <- i
	}()
	if len(deps) > 0 {
		// The check sees the results of the checks it depends on, on a
		// copy of the session so that the others do not.
		c := *s
		for _, d := range deps {
			select {
			case <-nodes[d].done:
			case <-ctx.Done():
				return // abandoned with the rest at the deadline
			}
			c.Results = append(c.Results, nodes[d].result)
		}
		s = &c
	}
	r := n.check.Check(ctx, s)
	if r.Check == "" {
		r.Check = n.check.Name()
	}
	n.result = r
}

// dependencies returns, for each check, the indexes of the checks it must
// wait for: those named by its After method, in this evaluation, leaving
// out any that would close a cycle.
func dependencies(checks []Check) [][]int {
	var deps [][]int
	for i, c := range checks {
		d, ok := c.(Dependent)
		if !ok {
			continue
		}
		for _, name := range d.After() {
			for j, o := range checks {
				if j == i || o.Name() != name || reaches(deps, j, i) {
					continue
				}
				if deps == nil {
					deps = make([][]int, len(checks))
				}
				deps[i] = append(deps[i], j)
			}
		}
	}
	if deps == nil {
		deps = make([][]int, len(checks))
	}
	return deps
}

// reaches reports whether from depends, directly or not, on to.
func reaches(deps [][]int, from, to int) bool {
	if deps == nil {
		return false
	}
	if from == to {
		return true
	}
	for _, d := range deps[from] {
		if reaches(deps, d, to) {
			return true
		}
	}
	return false
}

// weight returns the multiplier of a check's score.
func (p *Policy) weight(check string) float64 {
	if w, ok := p.Weights[check]; ok {
		return w
	}
	return 1
}

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

	var why []string
	demanded := false
	switch {
	case d.Action == Accept:
		d.Code, d.Enhanced = 250, acceptEnhanced(stage)
	case demand == d.Action:
		// A demand drove the action: its reply code wins, and the reply
		// is the reasons of the results that made the demand, as Postfix
		// answers "554 5.7.1 Relay access denied".
		demanded = true
		for _, r := range s.Results {
			if r.Action != d.Action {
				continue
			}
			if d.Code == 0 && r.Code != 0 {
				d.Code, d.Enhanced = r.Code, r.Enhanced
			}
			if reason := Printable(r.Reason); reason != "" {
				why = append(why, reason)
			}
		}
	default:
		// The score drove the action: name the results that added to it,
		// the largest first.
		why = p.scoreReasons(s.Results)
	}
	if d.Code == 0 {
		d.Code, d.Enhanced = defaultReply(d.Action, stage)
	}
	// Quarantine is an accepted message: the reply is a 2xx whatever a
	// result asked for.
	if d.Action == Quarantine {
		d.Code, d.Enhanced = 250, acceptEnhanced(stage)
	}
	d.Message = p.message(d, why, demanded)
	return d
}

// scoreReasons lists the reasons of results with a positive weighted score,
// largest first.
func (p *Policy) scoreReasons(results []Result) []string {
	type scored struct {
		score float64
		r     Result
	}
	var top []scored
	for _, r := range results {
		if sc := p.weight(r.Check) * r.Score; sc > 0 {
			top = append(top, scored{sc, r})
		}
	}
	// Insertion sort: there are few results, and it keeps ties in order.
	for i := 1; i < len(top); i++ {
		for j := i; j > 0 && top[j].score > top[j-1].score; j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	var why []string
	for _, t := range top {
		why = appendReason(why, t.r)
	}
	return why
}

func appendReason(why []string, r Result) []string {
	reason := Printable(r.Reason)
	if reason == "" {
		reason = r.Status.String()
	}
	return append(why, r.Check+": "+reason)
}

// maxMessage keeps a reply line (code, enhanced code, text, CRLF) well under
// the 512 octets RFC 5321 §4.5.3.1.5 allows.
const maxMessage = 400

// message is the reply text: the policy's text for the action, or the
// default one, followed by the reasons; a demand's reasons stand alone
// unless the policy has a text for the action.
func (p *Policy) message(d Decision, why []string, demanded bool) string {
	text, ok := p.Replies[d.Action]
	switch {
	case ok:
		text = Printable(text)
	case demanded && len(why) > 0:
		text = ""
	default:
		text = defaultText[d.Action]
	}
	if len(why) > 0 {
		if text != "" {
			text += ": "
		}
		text += strings.Join(why, "; ")
	}
	if len(text) > maxMessage {
		text = text[:maxMessage-3] + "..."
	}
	return text
}

var defaultText = [...]string{
	Accept:     "OK",
	Quarantine: "OK",
	TempFail:   "Try again later",
	Reject:     "Refused by policy",
}

func acceptEnhanced(stage Stage) string {
	switch stage {
	case Mail:
		return "2.1.0"
	case Rcpt:
		return "2.1.5"
	}
	return "2.0.0"
}

// defaultReply is the reply of an action no result chose a code for
// (DESIGN.md, "SMTP replies").
func defaultReply(a Action, stage Stage) (int, string) {
	switch a {
	case TempFail:
		return 451, "4.7.1"
	case Reject:
		if stage == Connect {
			return 554, "5.7.1" // RFC 5321 §3.1: 554 refuses a connection
		}
		return 550, "5.7.1"
	}
	return 250, acceptEnhanced(stage)
}
