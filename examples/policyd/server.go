package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// Server answers Postfix policy delegation requests (SMTPD_POLICY_README)
// with the decisions of a Policy. Each request is judged on its own: the
// Session is built from its attributes and the stages from Connect up to
// the request's protocol_state are evaluated in order, stopping at the
// first that refuses. Postfix keeps a connection open for many requests,
// of one SMTP session or several, one at a time.
type Server struct {
	Policy *verdict.Policy

	// AuthservID, if set, makes the first accepted request of each mail
	// transaction (Postfix's "instance") at MAIL or later answer
	// "PREPEND Authentication-Results: AuthservID; ..." with the results
	// known then (iprev, SPF).
	AuthservID string

	// DeferNow answers a temporary failure "451 4.7.1 ..." at once. By
	// default it is "DEFER_IF_PERMIT 4.7.1 ...", as postgrey does: Postfix
	// then defers only if the rest of its restrictions would accept, so a
	// relay attempt is still refused outright by reject_unauth_destination
	// placed after the policy service.
	DeferNow bool

	// Hold answers a quarantine "HOLD" (Postfix's hold queue, as a milter
	// quarantine does). By default it is "PREPEND X-Spam-Flag: YES" and the
	// message is delivered, marked.
	Hold bool

	// IdleTimeout closes a connection that sends no request for that long.
	// Zero means 10 minutes, longer than Postfix's own
	// smtpd_policy_service_max_idle (300s), so that Postfix closes first.
	IdleTimeout time.Duration

	Logger *slog.Logger

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("policyd: server closed")

func (s *Server) init() {
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

// Serve accepts connections on ln, a TCP or unix socket, until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.init()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(s.ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops the listeners, ends the connections and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.init()
	s.closed = true
	s.cancel()
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// transaction remembers, per connection, which headers were already
// prepended to the mail transaction Postfix names by "instance", since
// Postfix asks once per recipient and each PREPEND would add a field.
type transaction struct {
	instance          string
	authres, spamFlag bool
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = 10 * time.Minute
	}
	r := bufio.NewReaderSize(c, maxRequestBytes)
	var tx transaction
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		attrs, err := readRequest(r)
		var action string
		var bad *malformedError
		switch {
		case err == nil:
			action = s.answer(ctx, attrs, &tx)
		case errors.As(err, &bad) || err == errTooLarge:
			// Postfix itself defers when its policy service fails
			// (default_action = 451 4.3.5): a request we cannot read is
			// answered the same way, never accepted unchecked.
			s.logger().Warn("policy request refused", "remote", c.RemoteAddr().String(), "err", err)
			action = "451 4.3.0 Policy service error: " + err.Error()
		default:
			if err != io.EOF && ctx.Err() == nil {
				s.logger().Debug("policy connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, werr := io.WriteString(c, "action="+action+"\n\n"); werr != nil || err == errTooLarge {
			return
		}
	}
}

// stages maps Postfix's protocol_state to the last stage evaluated. The
// message-level states (DATA, BDAT, END-OF-MESSAGE) carry no single
// recipient, so they re-check the envelope up to MAIL; recipients were
// judged at RCPT. VRFY and ETRN are not judged (DUNNO).
var stages = map[string]verdict.Stage{
	"CONNECT":        verdict.Connect,
	"EHLO":           verdict.Helo,
	"HELO":           verdict.Helo,
	"MAIL":           verdict.Mail,
	"RCPT":           verdict.Rcpt,
	"DATA":           verdict.Mail,
	"BDAT":           verdict.Mail,
	"END-OF-MESSAGE": verdict.Mail,
}

// answer returns the action for one request (without "action=").
func (s *Server) answer(ctx context.Context, attrs map[string]string, tx *transaction) string {
	if req := attrs["request"]; req != "smtpd_access_policy" {
		return "451 4.3.0 Policy service error: " + (&malformedError{"request=" + printable([]byte(req)) + " is not smtpd_access_policy"}).Error()
	}
	state := strings.ToUpper(attrs["protocol_state"])
	last, ok := stages[state]
	if !ok {
		return "DUNNO"
	}
	ip, err := netip.ParseAddr(attrs["client_address"])
	if err != nil {
		return "451 4.3.0 Policy service error: " + (&malformedError{"client_address is no IP address"}).Error()
	}
	vs := verdict.Session{
		IP:       ip.Unmap(),
		HELO:     attrs["helo_name"],
		MailFrom: attrs["sender"],
		AuthUser: attrs["sasl_username"],
		TLS:      attrs["encryption_protocol"] != "",
	}
	if last == verdict.Rcpt {
		vs.Rcpt = attrs["recipient"]
	}
	var d verdict.Decision
	for stage := verdict.Connect; stage <= last; stage++ {
		d = s.Policy.Evaluate(ctx, &vs, stage)
		if d.Action >= verdict.TempFail {
			break
		}
	}
	action := s.action(d, last, attrs["instance"], tx)
	s.logger().Info("decision", "queue_id", printable([]byte(attrs["queue_id"])), "state", state,
		"ip", vs.IP.String(), "helo", verdict.Printable(vs.HELO), "from", verdict.Printable(vs.MailFrom),
		"rcpt", verdict.Printable(vs.Rcpt), "action", d.Action.String(), "score", d.Score, "answer", action)
	return action
}

func (s *Server) action(d verdict.Decision, last verdict.Stage, instance string, tx *transaction) string {
	switch d.Action {
	case verdict.Reject:
		code := d.Code
		if code < 500 || code > 599 {
			code = 550
		}
		return fmt.Sprintf("%d %s %s", code, enhanced(d.Enhanced, '5'), d.Message)
	case verdict.TempFail:
		if s.DeferNow {
			code := d.Code
			if code < 400 || code > 499 {
				code = 451
			}
			return fmt.Sprintf("%d %s %s", code, enhanced(d.Enhanced, '4'), d.Message)
		}
		return "DEFER_IF_PERMIT " + enhanced(d.Enhanced, '4') + " " + d.Message
	}
	if last < verdict.Mail {
		return "DUNNO"
	}
	if instance != tx.instance || instance == "" {
		*tx = transaction{instance: instance}
	}
	if d.Action == verdict.Quarantine {
		if s.Hold {
			return "HOLD " + d.Message
		}
		if !tx.spamFlag {
			tx.spamFlag = true
			return "PREPEND X-Spam-Flag: YES"
		}
	}
	if s.AuthservID != "" && !tx.authres && hasAuth(d) {
		tx.authres = true
		return "PREPEND Authentication-Results: " + d.AuthenticationResults(s.AuthservID)
	}
	return "DUNNO"
}

func hasAuth(d verdict.Decision) bool {
	for _, r := range d.Results {
		if len(r.Auth) > 0 {
			return true
		}
	}
	return false
}

// enhanced returns the decision's RFC 3463 code if it is well formed and
// of the right class, else class.7.1 (Postfix's own default).
func enhanced(e string, class byte) string {
	parts := strings.Split(e, ".")
	ok := len(parts) == 3 && len(e) > 0 && e[0] == class
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			ok = false
		}
	}
	if !ok {
		return string(class) + ".7.1"
	}
	return e
}
