package clamd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in results and policy weights.
const Name = "clamd"

// Defaults of Options.
const (
	// DefaultMaxSize is Debian's StreamMaxLength for clamd (25 MiB):
	// larger messages are not sent.
	DefaultMaxSize = 25 << 20
	// DefaultTimeout bounds a scan when the context has no deadline.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxIdle is how many idle connections the pool keeps.
	DefaultMaxIdle = 4
	// DefaultIdleTimeout is how long an idle connection is kept: less
	// than clamd's own IdleTimeout (30 s by default), after which clamd
	// closes an IDSESSION that waits for a command.
	DefaultIdleTimeout = 10 * time.Second
)

// Options change how the Checker scans. A nil *Options means the defaults;
// the zero value of every field means its default too.
type Options struct {
	// MaxSize is the length in bytes of the largest message sent to
	// clamd; a longer one is not scanned (Status None, no demand). Keep
	// it at most clamd's StreamMaxLength: clamd refuses a longer stream,
	// which gives TempError. 0 means DefaultMaxSize.
	MaxSize int

	// Timeout bounds a scan when the context has no deadline. 0 means
	// DefaultTimeout.
	Timeout time.Duration

	// MaxIdle is how many idle connections are kept for the next scans,
	// each in an IDSESSION. 0 means DefaultMaxIdle; a negative value
	// turns the pool off: one connection per scan, closed after it.
	MaxIdle int

	// IdleTimeout is how long an idle connection is kept. 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	// Quarantine makes a virus found demand Quarantine (accept, file as
	// junk) instead of Reject.
	Quarantine bool

	// FailOpen makes a scan that failed (clamd unreachable, timed out,
	// answering an error) demand nothing instead of TempFail. The result
	// is still TempError.
	FailOpen bool

	// Scores replaces DefaultScores.
	Scores *Scores
}

// Scores are the scores of a result by what clamd said.
type Scores struct {
	Found     float64 // a signature matched
	Clean     float64 // scanned, nothing found
	Error     float64 // the scan failed
	Unscanned float64 // over MaxSize, not sent
}

// DefaultScores are the scores used when Options.Scores is nil. A virus
// weighs heavily even when the Reject demand is off (Options.Quarantine);
// a clean scan says nothing of whether the message is wanted, and a
// failed one nothing of the message at all.
//
// DefaultScores is read, never written, by this package. To change the
// scores, copy it, change the copy, and pass it in Options.Scores.
var DefaultScores = Scores{Found: 15}

// New returns a Checker that scans with the clamd listening at address on
// network ("tcp" with "host:port", or "unix" with a socket path, as for
// net.Dial). It dials nothing until the first scan. Close it to close the
// pooled connections.
func New(network, address string, o *Options) *Checker {
	c := &Checker{scores: DefaultScores}
	if o != nil {
		c.opts = *o
		if o.Scores != nil {
			c.scores = *o.Scores
		}
	}
	c.opts.Scores = nil
	if c.opts.MaxSize <= 0 {
		c.opts.MaxSize = DefaultMaxSize
	}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = DefaultTimeout
	}
	if c.opts.MaxIdle == 0 {
		c.opts.MaxIdle = DefaultMaxIdle
	}
	if c.opts.IdleTimeout <= 0 {
		c.opts.IdleTimeout = DefaultIdleTimeout
	}
	c.pool = &pool{network: network, address: address, maxIdle: c.opts.MaxIdle, idleTimeout: c.opts.IdleTimeout}
	return c
}

// Checker scans messages with one clamd. It is a verdict.Check of the
// Data stage and is safe for concurrent use.
type Checker struct {
	opts   Options
	scores Scores
	pool   *pool
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// Check scans the session's message.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, s.Message)
}

// Evaluate scans message with the Checker's options: Fail with a Reject
// demand (554 5.7.0, the signature name in the reason) when clamd finds a
// signature, Pass when it finds none, None when the message is over
// MaxSize, and TempError with a TempFail demand (451 4.7.0) when the scan
// fails.
func (c *Checker) Evaluate(ctx context.Context, message []byte) verdict.Result {
	if len(message) > c.opts.MaxSize {
		return verdict.Result{Check: Name, Status: verdict.None, Score: c.scores.Unscanned,
			Reason: fmt.Sprintf("not scanned: %d bytes, over the %d-byte limit", len(message), c.opts.MaxSize)}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	virus, err := c.pool.scan(ctx, message)
	switch {
	case err != nil:
		r := verdict.Result{Check: Name, Status: verdict.TempError, Score: c.scores.Error, Err: err,
			Reason: "scan failed: " + verdict.Printable(errText(err))}
		if !c.opts.FailOpen {
			r.Action, r.Code, r.Enhanced = verdict.TempFail, 451, "4.7.0"
		}
		return r
	case virus != "":
		r := verdict.Result{Check: Name, Status: verdict.Fail, Score: c.scores.Found,
			Reason: "virus found: " + verdict.Printable(virus)}
		if c.opts.Quarantine {
			r.Action = verdict.Quarantine
		} else {
			r.Action, r.Code, r.Enhanced = verdict.Reject, 554, "5.7.0"
		}
		return r
	}
	return verdict.Result{Check: Name, Status: verdict.Pass, Score: c.scores.Clean, Reason: "no virus found"}
}

// errText says what went wrong without the addresses a net.OpError
// carries, which the reason (possibly sent to the client) need not show.
func errText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// Close closes the pooled connections, ending their sessions. Scans after
// Close still work, without a pool.
func (c *Checker) Close() error { return c.pool.close() }
