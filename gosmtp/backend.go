package gosmtp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/verdict"
)

// A DecisionSetter is a session of the wrapped Backend that wants the
// policy's decision on a message: Wrap calls SetDecision just before the
// session's Data, with the session's facts (client, HELO, sender,
// recipients, results) and the Data decision. Junk is true when the
// message is to be filed as junk: the decision, or one of the recipients'
// decisions, was Quarantine.
type DecisionSetter interface {
	SetDecision(s *verdict.Session, d verdict.Decision, junk bool)
}

// An AuthUserer is a session of the wrapped Backend that authenticates
// clients (smtp.AuthSession): Wrap reads AuthUser at MAIL for
// verdict.Session.AuthUser, "" when the client has not authenticated.
type AuthUserer interface {
	AuthUser() string
}

// Wrap returns a Backend that asks p at every stage of each session and
// passes what p accepts to be's sessions; see the package documentation.
// If be's sessions implement smtp.AuthSession, so do Wrap's (AUTH is
// passed through). A nil p accepts everything.
func Wrap(be smtp.Backend, p *verdict.Policy, o *Options) smtp.Backend {
	if p == nil {
		p = &verdict.Policy{}
	}
	if o == nil {
		o = &Options{}
	}
	w := &backend{be: be, p: p, o: o}
	w.mem.max = orDefault(o.MemoryBudget, 256<<20)
	w.malformedByPolicy = slices.ContainsFunc(p.Checks, func(c verdict.Check) bool { return c != nil && c.Name() == "message" })
	return w
}

type backend struct {
	be  smtp.Backend
	p   *verdict.Policy
	o   *Options
	mem budget

	malformedByPolicy bool // the policy has a "message" check
}

// NewSession runs at the first HELO/EHLO (go-smtp creates no session
// before then), and again after STARTTLS.
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{b: b, conn: c}
	ctx := context.Background()
	if g := listened(c.Conn()); g != nil {
		s.vs.IP = g.ip
		s.vs.Results = slices.Clip(g.results)
	} else {
		s.vs.IP = remoteIP(c.Conn())
		d := b.p.Evaluate(ctx, &s.vs, verdict.Connect)
		if err := Error(d); err != nil {
			b.o.log(verdict.Connect, &s.vs, d)
			return nil, err
		}
	}
	if s.helo(); s.heloErr != nil {
		return nil, s.heloErr
	}
	inner, err := b.be.NewSession(c)
	if err != nil {
		return nil, err
	}
	s.inner = inner
	if a, ok := inner.(smtp.AuthSession); ok {
		return &authSession{session: s, auth: a}, nil
	}
	return s, nil
}

// listened returns the connection as Listen let it in, if it did.
func listened(c net.Conn) *conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	g, _ := c.(*conn)
	return g
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// session is one client after HELO. go-smtp calls its methods one at a
// time, except with BDAT, where Data runs in a goroutine of its own while
// the connection goes on reading commands (RSET, EHLO, QUIT) that call
// Reset and Logout: mu serializes them, and gen tells Data that the
// transaction it is reading has been reset.
type session struct {
	b     *backend
	conn  *smtp.Conn
	inner smtp.Session

	mu         sync.Mutex
	vs         verdict.Session
	gen        uint64          // incremented by every Reset
	heloErr    *smtp.SMTPError // the refusal of the current HELO name, if any
	quarantine bool            // a recipient's decision was Quarantine
}

// helo evaluates the HELO stage for the name the client gave last and
// keeps the refusal, if any, for every later MAIL until the name changes.
func (s *session) helo() {
	s.vs.Reset(verdict.Helo)
	s.vs.HELO = s.conn.Hostname()
	d := s.evaluate(verdict.Helo)
	s.heloErr = nil
	if e := Error(d); e != nil {
		s.b.o.log(verdict.Helo, &s.vs, d)
		s.heloErr = e.(*smtp.SMTPError)
	}
}

// evaluate runs a stage on a copy of the session and keeps its results:
// a check abandoned at the stage deadline may go on reading the copy while
// the session changes for the next command.
func (s *session) evaluate(stage verdict.Stage) verdict.Decision {
	vs := s.vs
	d := s.b.p.Evaluate(context.Background(), &vs, stage)
	s.vs.Results, s.vs.Trusted = vs.Results, vs.Trusted
	return d
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A second EHLO resets the session in go-smtp without a new
	// NewSession: evaluate the new name before the transaction uses it.
	if s.conn.Hostname() != s.vs.HELO {
		s.helo()
	}
	if s.heloErr != nil {
		return s.heloErr
	}
	s.vs.Reset(verdict.Mail)
	var cs tls.ConnectionState
	cs, s.vs.TLS = s.conn.TLSConnectionState()
	s.vs.ClientCert = ""
	if s.vs.TLS && len(cs.PeerCertificates) > 0 {
		s.vs.ClientCert = fingerprint(cs.PeerCertificates[0])
	}
	if a, ok := s.inner.(AuthUserer); ok {
		s.vs.AuthUser = a.AuthUser()
	}
	s.vs.MailFrom = from
	if opts != nil {
		s.vs.SMTPUTF8 = opts.UTF8
		s.vs.EightBitMIME = opts.Body == smtp.Body8BitMIME || opts.Body == smtp.BodyBinaryMIME
	}
	d := s.evaluate(verdict.Mail)
	if err := Error(d); err != nil {
		s.b.o.log(verdict.Mail, &s.vs, d)
		s.vs.Reset(verdict.Mail)
		return err
	}
	if err := s.inner.Mail(from, opts); err != nil {
		s.vs.Reset(verdict.Mail)
		return err
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Each recipient is judged on the results up to MAIL plus its own, on
	// a copy, so one recipient's relay denial or greylisting does not
	// count against the next.
	vs := s.vs.ForRcpt(to)
	d := s.b.p.Evaluate(context.Background(), vs, verdict.Rcpt)
	if err := Error(d); err != nil {
		s.b.o.log(verdict.Rcpt, vs, d)
		return err
	}
	if err := s.inner.Rcpt(to, opts); err != nil {
		return err
	}
	s.vs.Rcpts = append(slices.Clip(s.vs.Rcpts), to)
	s.quarantine = s.quarantine || d.Action == verdict.Quarantine
	return nil
}

// Reset ends a transaction: RSET, a new EHLO, the end of DATA.
func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

func (s *session) reset() {
	s.gen++
	s.vs.Reset(verdict.Mail)
	s.quarantine = false
	s.inner.Reset()
}

func (s *session) Logout() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	return s.inner.Logout()
}

func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	gen := s.gen
	early := s.vs
	early.Results = nil
	s.mu.Unlock()

	// Read without the lock: with BDAT, RSET and QUIT arrive while the
	// message does, and end the read with an error.
	m, err := s.b.read(r, s.conn, func(header []byte) {
		// Once the header section is in, let the checks start their
		// lookups (DKIM keys, the From domain's DMARC records) while
		// the body arrives.
		early.Message = header
		s.b.p.Prefetch(context.Background(), &early)
	})
	if err != nil {
		return err
	}
	defer m.release()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return smtp.ErrDataReset
	}
	if err := m.load(); err != nil {
		return err
	}
	sec, err := s.b.inspect(m)
	if err != nil {
		s.b.o.logger().Info("malformed message", "ip", s.vs.IP.String(), "from", verdict.Printable(s.vs.MailFrom), "reply", err.Error())
		return err
	}
	vs := s.vs
	vs.Message = m.buf
	d := s.b.p.Evaluate(context.Background(), &vs, verdict.Data)
	s.b.o.log(verdict.Data, &vs, d)
	if err := Error(d); err != nil {
		return err
	}
	junk := d.Action == verdict.Quarantine || s.quarantine
	if ds, ok := s.inner.(DecisionSetter); ok {
		ds.SetDecision(&vs, d, junk)
	}
	return s.inner.Data(stamped(m.buf, sec.Len, d, s.b.o.hostname(), junk))
}

// authSession is a session whose wrapped session does AUTH.
type authSession struct {
	*session
	auth smtp.AuthSession
}

func (s *authSession) AuthMechanisms() []string { return s.auth.AuthMechanisms() }

func (s *authSession) Auth(mech string) (sasl.Server, error) { return s.auth.Auth(mech) }

// fingerprint is the SHA-256 digest of cert's DER encoding in lower-case
// hex, the form of verdict.Session.ClientCert. The handshake has proven
// that the client holds the certificate's key, and has verified the chain
// when the server's tls.Config asks for that (ClientAuth
// VerifyClientCertIfGiven with ClientCAs).
func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}
