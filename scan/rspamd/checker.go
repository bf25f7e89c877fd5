package rspamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the check, in results and policy weights.
const Name = "rspamd"

// Defaults of Options.
const (
	// DefaultMaxSize is rspamd's own max_message (50 MiB).
	DefaultMaxSize = 50 << 20
	// DefaultTimeout bounds a scan when the context has no deadline.
	DefaultTimeout = 30 * time.Second
)

// Options change how the Checker asks rspamd. A nil *Options means the
// defaults; the zero value of every field means its default too.
type Options struct {
	// Client sends the requests. nil means a client of the Checker's own
	// that keeps connections to rspamd open between messages.
	Client *http.Client

	// Timeout bounds a scan when the context has no deadline. 0 means
	// DefaultTimeout.
	Timeout time.Duration

	// MaxSize is the length in bytes of the largest message sent; a
	// longer one is not scanned (Status None, no demand). 0 means
	// DefaultMaxSize.
	MaxSize int

	// Mapping maps rspamd's actions to outcomes. nil means
	// DefaultMapping.
	Mapping Mapping

	// FailOpen makes a scan that failed (rspamd unreachable, timed out,
	// answering an error) demand nothing instead of TempFail (451
	// 4.7.0). The result is still TempError.
	FailOpen bool

	// QueueID, if set, gives the server's queue id of the session's
	// message, sent to rspamd for its log.
	QueueID func(s *verdict.Session) string

	// OnReply, if set, is called by Check with the session and rspamd's
	// reply, before Check returns: the way to the header changes rspamd
	// asks for (Reply.AddHeaders, Reply.RemoveHeaders) when the Checker
	// runs inside a Policy. It is called from the Policy's goroutines and
	// must not keep the Reply beyond the message.
	OnReply func(s *verdict.Session, r *Reply)
}

// New returns a Checker that asks the rspamd normal worker at base, an
// HTTP URL such as "http://127.0.0.1:11333".
func New(base string, o *Options) *Checker {
	c := &Checker{base: strings.TrimSuffix(base, "/")}
	if o != nil {
		c.opts = *o
	}
	if c.opts.Timeout <= 0 {
		c.opts.Timeout = DefaultTimeout
	}
	if c.opts.MaxSize <= 0 {
		c.opts.MaxSize = DefaultMaxSize
	}
	m := c.opts.Mapping
	if m == nil {
		m = DefaultMapping
	}
	c.mapping = make(Mapping, len(m))
	for k, v := range m {
		c.mapping[k] = v
	}
	c.opts.Mapping = nil
	if c.opts.Client == nil {
		c.opts.Client = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return c
}

// Checker asks one rspamd about messages. It is a verdict.Check of the
// Data stage and is safe for concurrent use.
type Checker struct {
	base    string
	opts    Options
	mapping Mapping
}

// Name returns Name.
func (c *Checker) Name() string { return Name }

// Stage returns verdict.Data.
func (c *Checker) Stage() verdict.Stage { return verdict.Data }

// Check sends the session's message and facts to rspamd: the client IP,
// HELO, sender, recipients (Session.Rcpts, or Rcpt without them), AUTH
// user, and the client's host name when an fcrdns result confirmed one.
func (c *Checker) Check(ctx context.Context, s *verdict.Session) verdict.Result {
	f := Facts{IP: s.IP, Helo: s.HELO, From: s.MailFrom, Rcpts: s.Rcpts, User: s.AuthUser}
	if len(f.Rcpts) == 0 && s.Rcpt != "" {
		f.Rcpts = []string{s.Rcpt}
	}
	if r, ok := s.Result("fcrdns"); ok && r.Status == verdict.Pass {
		f.Hostname = r.Domain
	}
	if c.opts.QueueID != nil {
		f.QueueID = c.opts.QueueID(s)
	}
	if len(s.Message) > c.opts.MaxSize {
		return c.unscanned(len(s.Message))
	}
	reply, err := c.Scan(ctx, f, s.Message)
	if err != nil {
		return c.failed(err)
	}
	if c.opts.OnReply != nil {
		c.opts.OnReply(s, reply)
	}
	return c.Result(reply)
}

// Evaluate sends message and the facts to rspamd and maps its reply; None
// over MaxSize; TempError (demanding TempFail unless FailOpen) when rspamd
// cannot answer.
func (c *Checker) Evaluate(ctx context.Context, f Facts, message []byte) verdict.Result {
	if len(message) > c.opts.MaxSize {
		return c.unscanned(len(message))
	}
	reply, err := c.Scan(ctx, f, message)
	if err != nil {
		return c.failed(err)
	}
	return c.Result(reply)
}

func (c *Checker) unscanned(n int) verdict.Result {
	return verdict.Result{Check: Name, Status: verdict.None,
		Reason: fmt.Sprintf("not scanned: %d bytes, over the %d-byte limit", n, c.opts.MaxSize)}
}

func (c *Checker) failed(err error) verdict.Result {
	text := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		text = "timed out"
	case errors.Is(err, context.Canceled):
		text = "canceled"
	}
	r := verdict.Result{Check: Name, Status: verdict.TempError, Err: err, Reason: "scan failed: " + verdict.Printable(text)}
	if !c.opts.FailOpen {
		r.Action, r.Code, r.Enhanced = verdict.TempFail, 451, "4.7.0"
	}
	return r
}

// Result maps a reply to a Result with the Checker's Mapping: the
// outcome of the action, rspamd's score as the Score, and a reason with
// the action, the score and the highest-scoring symbols (or rspamd's own
// SMTP message, when it gives one).
func (c *Checker) Result(reply *Reply) verdict.Result {
	o := c.mapping.outcome(reply.Action)
	r := verdict.Result{Check: Name, Status: o.Status, Action: o.Action, Code: o.Code, Enhanced: o.Enhanced, Score: reply.Score}
	reason := fmt.Sprintf("%s, score %.2f of %.2f", reply.Action, reply.Score, reply.RequiredScore)
	switch {
	case reply.Message != "":
		reason += ": " + reply.Message
	default:
		var names []string
		for _, s := range reply.Symbols {
			if s.Score <= 0 || len(names) == 5 {
				break
			}
			names = append(names, s.Name)
		}
		if len(names) > 0 {
			reason += " (" + strings.Join(names, ",") + ")"
		}
	}
	r.Reason = verdict.Printable(reason)
	return r
}

// Scan sends message and the facts to rspamd and returns its reply,
// for callers that want all of it (the symbols, the header changes). It
// does not apply MaxSize.
func (c *Checker) Scan(ctx context.Context, f Facts, message []byte) (*Reply, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	req, err := NewRequest(ctx, c.base, f, message)
	if err != nil {
		return nil, err
	}
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			// Drop the URL url.Error adds: it need not be in a reason.
			err = ue.Unwrap()
		}
		return nil, fmt.Errorf("rspamd: %w", opError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReply+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("rspamd: reading the reply: %w", opError(err))
	}
	if len(body) > MaxReply {
		return nil, fmt.Errorf("rspamd: reply longer than %d bytes", MaxReply)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rspamd: HTTP status %d: %s", resp.StatusCode, clean(string(body)))
	}
	return ParseReply(body)
}

// opError shortens a *net.OpError to its operation and cause.
func opError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("%s: %w", op.Op, op.Err)
	}
	return err
}

// Close closes the idle connections of the Checker's HTTP client.
func (c *Checker) Close() error {
	c.opts.Client.CloseIdleConnections()
	return nil
}
