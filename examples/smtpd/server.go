package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/verdict"
)

// Server is the border MTA: it asks a Policy at every stage of the SMTP
// dialogue and files the messages it accepts into a Maildir.
type Server struct {
	Policy   *verdict.Policy
	Hostname string // our name: banner, Received field and authserv-id
	Maildir  string // accepted mail goes to Maildir/new, quarantined to Maildir/.Junk/new
	Logger   *slog.Logger

	// MaxMessageBytes bounds a message; Timeout bounds each read and write
	// of the dialogue (RFC 5321 §4.5.3.2 asks for at least 5 minutes).
	MaxMessageBytes int64
	Timeout         time.Duration
}

// SMTP returns a go-smtp server that calls s for every session. Serve it on
// a listener from s.Listen so that the connect stage runs before the banner.
func (s *Server) SMTP() *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = s.Hostname
	srv.MaxMessageBytes = s.MaxMessageBytes
	srv.MaxRecipients = 100 // RFC 5321 §4.5.3.1.8
	srv.ReadTimeout = s.Timeout
	srv.WriteTimeout = s.Timeout
	srv.ErrorLog = slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn)
	return srv
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// session is one SMTP connection after HELO. go-smtp calls its methods one
// at a time.
type session struct {
	srv  *Server
	conn *smtp.Conn
	vs   verdict.Session

	// Results below these marks belong to the connect, HELO and MAIL
	// stages; later stages are evaluated on top of them, so a recipient's
	// results never leak into the next recipient or transaction. The slice
	// is clipped when cut back, so that new results never overwrite ones
	// a check abandoned at a stage deadline may still be reading.
	nConnect, nHelo, nMail int

	heloErr    *smtp.SMTPError // the refusal of the current HELO name, if any
	rcpts      []string
	quarantine bool // a recipient's decision asked for quarantine
}

// newSession runs at HELO/EHLO (go-smtp creates no session before then).
// The connect stage already ran in the guard listener; if the server is
// served without it, it runs here.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	sess := &session{srv: s, conn: c}
	if g, ok := c.Conn().(*guardConn); ok {
		sess.vs.IP = g.ip
		sess.vs.Results = slices.Clip(g.results)
	} else {
		sess.vs.IP = remoteIP(c.Conn())
		if d := s.Policy.Evaluate(context.Background(), &sess.vs, verdict.Connect); d.Action >= verdict.TempFail {
			s.log("connect", &sess.vs, d)
			return nil, replyError(d)
		}
	}
	sess.nConnect = len(sess.vs.Results)
	if sess.helo(); sess.heloErr != nil {
		return nil, sess.heloErr
	}
	return sess, nil
}

// helo evaluates the HELO stage for the name the client gave last and
// keeps the refusal, if any, for every later MAIL until the name changes.
func (sess *session) helo() {
	sess.vs.Results = slices.Clip(sess.vs.Results[:sess.nConnect])
	sess.vs.HELO = sess.conn.Hostname()
	d := sess.evaluate(verdict.Helo)
	sess.nHelo = len(sess.vs.Results)
	sess.heloErr = nil
	if d.Action >= verdict.TempFail {
		sess.srv.log("helo", &sess.vs, d)
		sess.heloErr = replyError(d)
	}
}

func (sess *session) Mail(from string, opts *smtp.MailOptions) error {
	// A second EHLO resets the session in go-smtp without a new
	// NewSession: evaluate the new name before the transaction uses it.
	if sess.conn.Hostname() != sess.vs.HELO {
		sess.helo()
	}
	if sess.heloErr != nil {
		return sess.heloErr
	}
	_, sess.vs.TLS = sess.conn.TLSConnectionState()
	sess.vs.MailFrom = from
	sess.vs.Results = slices.Clip(sess.vs.Results[:sess.nHelo])
	d := sess.evaluate(verdict.Mail)
	sess.nMail = len(sess.vs.Results)
	if d.Action >= verdict.TempFail {
		sess.srv.log("mail", &sess.vs, d)
		sess.Reset()
		return replyError(d)
	}
	return nil
}

// evaluate runs a stage on a copy of the session and keeps its results:
// a check abandoned at the stage deadline may go on reading the copy while
// the session changes for the next command.
func (sess *session) evaluate(stage verdict.Stage) verdict.Decision {
	vs := sess.vs
	d := sess.srv.Policy.Evaluate(context.Background(), &vs, stage)
	sess.vs.Results = vs.Results
	return d
}

func (sess *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	// Each recipient is judged on the results up to MAIL plus its own, on
	// a copy, so one recipient's relay denial or greylisting does not
	// count against the next. (After Mail, vs.Results ends at nMail.)
	vs := sess.vs.ForRcpt(to)
	d := sess.srv.Policy.Evaluate(context.Background(), vs, verdict.Rcpt)
	if d.Action >= verdict.TempFail {
		sess.srv.log("rcpt", vs, d)
		return replyError(d)
	}
	sess.rcpts = append(sess.rcpts, to)
	sess.quarantine = sess.quarantine || d.Action == verdict.Quarantine
	return nil
}

func (sess *session) Data(r io.Reader) error {
	// Once the header section is in, let the checks start their lookups
	// (DKIM keys, the From domain's DMARC records) while the body arrives.
	early := sess.vs
	early.Results = nil
	msg, err := io.ReadAll(&headerWatch{r: r, found: func(h []byte) {
		early.Message = h
		sess.srv.Policy.Prefetch(context.Background(), &early)
	}})
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se // go-smtp needs the *SMTPError itself, unwrapped
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Error reading message"}
	}
	vs := sess.vs
	vs.Results = slices.Clip(sess.vs.Results[:sess.nMail])
	vs.Message = msg
	d := sess.srv.Policy.Evaluate(context.Background(), &vs, verdict.Data)
	junk := d.Action == verdict.Quarantine || d.Action == verdict.Accept && sess.quarantine
	sess.srv.log("data", &vs, d)
	if d.Action >= verdict.TempFail {
		return replyError(d)
	}
	out := sess.srv.stamp(&vs, sess.rcpts, d, junk)
	if err := sess.srv.deliver(out, junk); err != nil {
		sess.srv.logger().Error("delivery failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error in processing, try again later"}
	}
	return nil
}

// Reset ends a transaction (RSET, a new EHLO, the end of DATA).
func (sess *session) Reset() {
	sess.vs.MailFrom, sess.vs.Rcpt, sess.vs.Message = "", "", nil
	sess.vs.Results = slices.Clip(sess.vs.Results[:sess.nHelo])
	sess.nMail = sess.nHelo
	sess.rcpts, sess.quarantine = nil, false
}

func (sess *session) Logout() error { return nil }

// replyError turns a refusing decision into the reply go-smtp sends. It
// must be returned as the *smtp.SMTPError itself: go-smtp does not unwrap
// errors and would answer "451 4.0.0" for anything else.
func replyError(d verdict.Decision) *smtp.SMTPError {
	return &smtp.SMTPError{Code: d.Code, EnhancedCode: enhanced(d.Enhanced, d.Code), Message: d.Message}
}

// enhanced parses an RFC 3463 status code ("5.7.1"); a missing or
// malformed one becomes X.0.0 of the reply's class.
func enhanced(s string, code int) smtp.EnhancedCode {
	var e smtp.EnhancedCode
	parts := strings.Split(s, ".")
	if len(parts) == 3 {
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 999 {
				return smtp.EnhancedCode{code / 100, 0, 0}
			}
			e[i] = n
		}
		if e[0] == code/100 {
			return e
		}
	}
	return smtp.EnhancedCode{code / 100, 0, 0}
}

func (s *Server) log(stage string, vs *verdict.Session, d verdict.Decision) {
	s.logger().Info("decision", "stage", stage, "ip", vs.IP.String(), "helo", verdict.Printable(vs.HELO),
		"from", verdict.Printable(vs.MailFrom), "rcpt", verdict.Printable(vs.Rcpt),
		"action", d.Action.String(), "score", d.Score, "reply", d.String())
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// headerWatch passes a message through and calls found once with a copy
// of its header section, as soon as the empty line that ends it has been
// read. It looks no further than maxWatch bytes.
type headerWatch struct {
	r     io.Reader
	found func(header []byte)
	buf   []byte
	done  bool
}

const maxWatch = 256 << 10

func (w *headerWatch) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if !w.done && n > 0 {
		w.buf = append(w.buf, p[:n]...)
		if end := headerEnd(w.buf); end >= 0 {
			w.done = true
			w.found(w.buf[:end:end])
		} else if len(w.buf) > maxWatch {
			w.done, w.buf = true, nil
		}
	}
	return n, err
}

// headerEnd returns the length of msg's header section with the empty
// line that ends it, or -1 if that line has not arrived.
func headerEnd(msg []byte) int {
	if bytes.HasPrefix(msg, []byte("\r\n")) || bytes.HasPrefix(msg, []byte("\n")) {
		return bytes.IndexByte(msg, '\n') + 1
	}
	i := bytes.Index(msg, []byte("\n\r\n"))
	j := bytes.Index(msg, []byte("\n\n"))
	switch {
	case i >= 0 && (j < 0 || i < j):
		return i + 3
	case j >= 0:
		return j + 2
	}
	return -1
}
