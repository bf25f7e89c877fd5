package spamd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in results and policy weights.
const Name = "spamd"

// Defaults of Options.
const (
	// DefaultMaxSize is spamc's default limit (500 KB): spam is small,
	// and SpamAssassin's time grows with the message.
	DefaultMaxSize = 500 * 1024
	// DefaultTimeout bounds a scan when the context has no deadline.
	DefaultTimeout = 30 * time.Second
)

// Options change how the Checker asks spamd. A nil *Options means the
// defaults; the zero value of every field means its default too.
type Options struct {
	// Command is the request sent: Check, Symbols or Report. "" means
	// Symbols: the matched rules go into the reason.
	Command Command

	// User names the user whose preferences spamd applies; "" sends none.
	User string

	// MaxSize is the length in bytes of the largest message sent; a
	// longer one is not scanned (Status None, no demand). 0 means
	// DefaultMaxSize.
	MaxSize int

	// Timeout bounds a scan when the context has no deadline. 0 means
	// DefaultTimeout.
	Timeout time.Duration

	// RejectScore is the SpamAssassin score at and above which the result
	// demands Reject (550 5.7.1). 0 means never: the score only weighs.
	RejectScore float64

	// FailOpen makes a scan that failed (spamd unreachable, timed out,
	// answering an error) demand nothing instead of TempFail (451
	// 4.7.0). The result is still TempError.
	FailOpen bool
}

// New returns a Checker that asks the spamd listening at address on
// network ("tcp" with "host:port", or "unix" with a socket path, as for
// net.Dial). spamd serves one request per connection.
func New(network, address string, o *Options) *Checker {
	c := &Checker{network: network, address: address}
	if o != nil {
		c.opts = *o
	}
	if c.opts.Command == "" {
		c.opts.Command = Symbols
	}
	if c.opts.MaxSize <= 0 {
		c.opts.MaxSize = DefaultMaxSize
	}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = DefaultTimeout
	}
	return c
}

// Checker asks one spamd about messages. It is a verdict.Check of the
// Data stage and is safe for concurrent use.
type Checker struct {
	network, address string
	opts             Options
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// Check scores the session's message.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	return c.Evaluate(ctx, s.Message)
}

// Evaluate scores message: Fail when SpamAssassin calls it spam, Pass
// otherwise, with SpamAssassin's score as the Score; None over MaxSize;
// TempError (demanding TempFail unless FailOpen) when spamd cannot answer.
func (c *Checker) Evaluate(ctx context.Context, message []byte) verdict.Result {
	if len(message) > c.opts.MaxSize {
		return verdict.Result{Check: Name, Status: verdict.None,
			Reason: fmt.Sprintf("not scanned: %d bytes, over the %d-byte limit", len(message), c.opts.MaxSize)}
	}
	resp, err := c.Scan(ctx, message)
	if err != nil {
		r := verdict.Result{Check: Name, Status: verdict.TempError, Err: err,
			Reason: "scan failed: " + verdict.Printable(errText(err))}
		if !c.opts.FailOpen {
			r.Action, r.Code, r.Enhanced = verdict.TempFail, 451, "4.7.0"
		}
		return r
	}
	return c.result(resp)
}

// result turns a response into a Result.
func (c *Checker) result(resp *Response) verdict.Result {
	r := verdict.Result{Check: Name, Status: verdict.Pass, Score: resp.Score}
	word := "ham"
	if resp.Spam {
		r.Status, word = verdict.Fail, "spam"
	}
	r.Reason = fmt.Sprintf("%s, score %.1f of %.1f", word, resp.Score, resp.Required)
	if len(resp.Symbols) > 0 {
		r.Reason += " (" + strings.Join(resp.Symbols, ",") + ")"
	}
	r.Reason = verdict.Printable(r.Reason)
	if c.opts.RejectScore > 0 && resp.Score >= c.opts.RejectScore {
		r.Action, r.Code, r.Enhanced = verdict.Reject, 550, "5.7.1"
	}
	return r
}

// Scan sends message to spamd with the Checker's command and user and
// returns spamd's response, for callers that want more than a Result
// (the report, to add it to the message). It does not apply MaxSize.
func (c *Checker) Scan(ctx context.Context, message []byte) (*Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, opError(err)
	}
	defer nc.Close()
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := WriteRequest(nc, c.opts.Command, c.opts.User, message); err != nil {
		return nil, c.ctxErr(ctx, opError(err))
	}
	// Half-close: spamd reads Content-length bytes, but an end of input
	// also tells an old spamd the request is complete.
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	resp, err := ReadResponse(bufio.NewReader(nc), c.opts.Command)
	if err != nil {
		return nil, c.ctxErr(ctx, opError(err))
	}
	return resp, nil
}

// ctxErr prefers the context's error to the I/O error it caused.
func (c *Checker) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func errText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// opError shortens a *net.OpError to its operation and cause, without the
// addresses: the text ends up in a reason.
func opError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("spamd %s: %w", op.Op, op.Err)
	}
	return err
}
