package main

import (
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/gosmtp"
	"github.com/mtaguard/mtaguard/limit"
	"github.com/mtaguard/mtaguard/verdict"
)

// Server is the border MTA: package gosmtp asks the Policy at every stage
// of the SMTP dialogue, and the messages it accepts are filed into a
// Maildir.
type Server struct {
	Policy   *verdict.Policy
	Hostname string // our name: banner, Received field and authserv-id
	Maildir  string // accepted mail goes to Maildir/new, quarantined to Maildir/.Junk/new
	Logger   *slog.Logger

	// MaxMessageBytes bounds a message; Timeout bounds each read and write
	// of the dialogue (RFC 5321 §4.5.3.2 asks for at least 5 minutes).
	MaxMessageBytes int64
	Timeout         time.Duration

	// Options are gosmtp's (connection caps, memory budget, spooling);
	// Hostname, Logger and MaxMessageBytes above override theirs.
	Options gosmtp.Options

	// Users, if set, makes the server a submission server: clients
	// authenticate with AUTH PLAIN or LOGIN against these bcrypt hashes.
	Users map[string][]byte
	// AuthLimit, if set, counts failed AUTH attempts per client (package
	// limit's AuthFailures rules).
	AuthLimit *limit.Checker
}

func (s *Server) options() *gosmtp.Options {
	o := s.Options
	o.Hostname, o.Logger, o.MaxMessageBytes = s.Hostname, s.Logger, s.MaxMessageBytes
	if o.Timeout == 0 && s.Timeout > 0 {
		o.Timeout = min(s.Timeout, 30*time.Second)
	}
	return &o
}

// SMTP returns a go-smtp server that asks the policy in every session and
// delivers into the Maildir. Serve it on a listener from s.Listen so that
// the connect stage runs before the banner.
func (s *Server) SMTP() *smtp.Server {
	srv := smtp.NewServer(gosmtp.Wrap(smtp.BackendFunc(s.newSession), s.Policy, s.options()))
	srv.Domain = s.Hostname
	srv.MaxMessageBytes = s.MaxMessageBytes
	srv.MaxRecipients = 100 // RFC 5321 §4.5.3.1.8
	srv.ReadTimeout = s.Timeout
	srv.WriteTimeout = s.Timeout
	srv.ErrorLog = slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn)
	return srv
}

// Listen wraps ln so that the connect stage and the connection caps run
// before the banner.
func (s *Server) Listen(ln net.Listener) net.Listener {
	return gosmtp.Listen(ln, s.Policy, s.options())
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// mailbox is the session behind gosmtp: it sees only what the policy
// accepted, and delivers it.
type mailbox struct {
	srv  *Server
	vs   *verdict.Session
	junk bool
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	if s.Users != nil {
		return &submitter{mailbox: &mailbox{srv: s}, conn: c}, nil
	}
	return &mailbox{srv: s}, nil
}

func (m *mailbox) Mail(string, *smtp.MailOptions) error { return nil }
func (m *mailbox) Rcpt(string, *smtp.RcptOptions) error { return nil }

// SetDecision is called by gosmtp before Data, with the facts of the
// session that the Received field records.
func (m *mailbox) SetDecision(vs *verdict.Session, _ verdict.Decision, junk bool) {
	m.vs, m.junk = vs, junk
}

func (m *mailbox) Data(r io.Reader) error {
	if err := m.srv.deliver(m.vs, r, m.junk); err != nil {
		m.srv.logger().Error("delivery failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Local error in processing, try again later"}
	}
	return nil
}

func (m *mailbox) Reset()        { m.vs, m.junk = nil, false }
func (m *mailbox) Logout() error { return nil }
