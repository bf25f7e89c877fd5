package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"

	"github.com/emersion/go-milter"

	"github.com/mtaguard/mtaguard/internal/header"
	"github.com/mtaguard/mtaguard/verdict"
)

// Filter is the milter: it collects what the MTA tells it about a
// transaction (client, HELO, sender, recipients, header and body) and
// judges it all at the end of the message, where a milter can still add
// and remove header fields, quarantine, or refuse with its own reply.
type Filter struct {
	Policy     *verdict.Policy
	AuthservID string // our host name, for Authentication-Results

	// Hold quarantines through the milter protocol (Postfix moves the
	// message to its hold queue). By default a quarantined message is
	// delivered with X-Spam-Flag: YES and X-Spam-Status fields.
	Hold bool

	// MaxMessageBytes bounds the message kept in memory (0: 32 MiB). A
	// larger message is refused, 552 5.3.4: its DKIM signatures cannot be
	// checked on a part of it, and passing it unjudged would let a forged
	// message through by its size alone.
	MaxMessageBytes int64

	Logger *slog.Logger
}

// Server returns the go-milter server for f.
func (f *Filter) Server() *milter.Server {
	return &milter.Server{
		NewMilter: func() milter.Milter { return &session{f: f} },
		Actions:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine,
		// The header values are wanted exactly as they are, with the
		// space after the colon, so that the message rebuilt for DKIM's
		// "simple" canonicalization is the one that was signed.
		Protocol: milter.OptHeaderLeadingSpace | milter.OptNoUnknown | milter.OptNoData,
	}
}

func (f *Filter) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

func (f *Filter) maxBytes() int {
	if f.MaxMessageBytes <= 0 {
		return 32 << 20
	}
	return int(f.MaxMessageBytes)
}

// session is one milter connection, which the MTA uses for one SMTP
// connection: the client facts stay, the transaction facts are reset for
// every message.
type session struct {
	f    *Filter
	ip   netip.Addr
	helo string
	tls  bool

	from, auth string
	rcpts      []string
	msg        []byte // the header and body, rebuilt
	tooBig     bool
	fields     int    // header fields seen
	malformed  string // why the header section cannot carry our field, or ""
	bodyLen    int    // bytes of the body seen
	arCount    int    // Authentication-Results fields seen
	forged     []int  // their indexes (1-based) that claim our authserv-id
}

func (s *session) reset() {
	s.from, s.auth, s.rcpts, s.msg, s.tooBig = "", "", nil, nil, false
	s.fields, s.malformed, s.bodyLen, s.arCount, s.forged = 0, "", 0, 0, nil
}

func (s *session) Connect(host, family string, port uint16, addr net.IP, m *milter.Modifier) (milter.Response, error) {
	*s = session{f: s.f}
	if ip, ok := netip.AddrFromSlice(addr); ok {
		s.ip = ip.Unmap()
	}
	return milter.RespContinue, nil
}

func (s *session) Helo(name string, m *milter.Modifier) (milter.Response, error) {
	s.helo = name
	// Postfix sends {tls_version} with HELO by default (milter_helo_macros).
	s.tls = m.Macros["{tls_version}"] != ""
	return milter.RespContinue, nil
}

func (s *session) MailFrom(from string, m *milter.Modifier) (milter.Response, error) {
	s.reset()
	s.from = from
	// Postfix sends {auth_authen} with MAIL by default (milter_mail_macros).
	s.auth = m.Macros["{auth_authen}"]
	return milter.RespContinue, nil
}

func (s *session) RcptTo(rcpt string, m *milter.Modifier) (milter.Response, error) {
	s.rcpts = append(s.rcpts, rcpt)
	return milter.RespContinue, nil
}

func (s *session) Header(name, value string, m *milter.Modifier) (milter.Response, error) {
	s.fields++
	switch {
	case s.malformed != "":
	case s.fields == 1 && (name == "" || name[0] == ' ' || name[0] == '\t'):
		// RFC 5322 §2.2.3: a header section cannot begin with a
		// continuation line; it would continue the field put on top.
		s.malformed = "header section begins with a continuation line"
	case hasBareCR(name) || hasBareCR(value):
		// A mail reader ends a line at a bare CR: what follows it
		// would be a field the MTA never showed us, such as a forged
		// Authentication-Results in our name.
		s.malformed = "bare CR in the header section"
	}
	if strings.EqualFold(name, "Authentication-Results") {
		s.arCount++
		if verdict.ClaimsAuthservID(value, s.f.AuthservID) {
			s.forged = append(s.forged, s.arCount)
		}
	}
	// MTAs pass folded values with bare LF (Postfix) or CRLF; the message
	// is rebuilt with CRLF, as it was on the wire.
	value = strings.ReplaceAll(strings.ReplaceAll(value, "\r\n", "\n"), "\n", "\r\n")
	s.add([]byte(name + ":" + value + "\r\n"))
	return milter.RespContinue, nil
}

func (s *session) Headers(h textproto.MIMEHeader, m *milter.Modifier) (milter.Response, error) {
	s.add([]byte("\r\n"))
	return milter.RespContinue, nil
}

func (s *session) BodyChunk(chunk []byte, m *milter.Modifier) (milter.Response, error) {
	if s.fields == 0 && s.bodyLen == 0 && s.malformed == "" {
		s.checkHeaderless(chunk)
	}
	s.bodyLen += len(chunk)
	s.add(chunk)
	return milter.RespContinue, nil
}

// checkHeaderless looks at the start of the body of a message in which the
// MTA found no header field: when it does not begin with an empty line, a
// mail reader takes what comes first for header fields, below the ones
// the MTA and we add. Its first chunk holds the lines that matter.
func (s *session) checkHeaderless(chunk []byte) {
	sec, err := header.Parse(chunk)
	switch {
	case err != nil, len(chunk) > 0 && (chunk[0] == ' ' || chunk[0] == '\t'):
		s.malformed = "header section begins with a continuation line"
	case sec.Flaws&header.BareCR != 0:
		s.malformed = "bare CR in the header section"
	}
}

// hasBareCR reports whether s holds a CR not followed by LF.
func hasBareCR(s string) bool {
	for i := strings.IndexByte(s, '\r'); i >= 0; i = strings.IndexByte(s, '\r') {
		if i+1 == len(s) || s[i+1] != '\n' {
			return true
		}
		s = s[i+2:]
	}
	return false
}

func (s *session) add(b []byte) {
	if s.tooBig || len(s.msg)+len(b) > s.f.maxBytes() {
		s.tooBig, s.msg = true, nil
		return
	}
	s.msg = append(s.msg, b...)
}

func (s *session) Abort(m *milter.Modifier) error {
	s.reset()
	return nil
}

// Body is the end of the message: judge it and answer.
func (s *session) Body(m *milter.Modifier) (milter.Response, error) {
	defer s.reset()
	switch {
	case s.tooBig:
		// Judging a part, or nothing, would accept a forged message
		// for its size; RFC 3463 §3.4: message too big for the system.
		s.f.logger().Info("refused", "ip", s.ip.String(), "from", verdict.Printable(s.from), "reason", "too big")
		return refuse(552, "5.3.4", fmt.Sprintf("message too big to be checked (over %d bytes)", s.f.maxBytes())), nil
	case s.malformed != "":
		// RFC 3463 §3.6: other or undefined media error.
		s.f.logger().Info("refused", "ip", s.ip.String(), "from", verdict.Printable(s.from), "reason", s.malformed)
		return refuse(550, "5.6.0", s.malformed), nil
	}
	d, junk := s.judge(context.Background())
	s.f.logger().Info("decision", "ip", s.ip.String(), "helo", verdict.Printable(s.helo),
		"from", verdict.Printable(s.from), "rcpts", len(s.rcpts), "action", d.Action.String(),
		"score", d.Score, "reply", d.String(), "junk", junk)
	if d.Action >= verdict.TempFail {
		return replyCode(d), nil
	}
	// Delete the last forged field first: deleting one does not move
	// the fields before it.
	for _, i := range slices.Backward(s.forged) {
		if err := m.ChangeHeader(i, "Authentication-Results", ""); err != nil {
			return nil, err
		}
	}
	if err := m.InsertHeader(0, "Authentication-Results", " "+d.AuthenticationResults(s.f.AuthservID)); err != nil {
		return nil, err
	}
	if junk {
		if s.f.Hold {
			if err := m.Quarantine(d.Message); err != nil {
				return nil, err
			}
		} else {
			if err := m.AddHeader("X-Spam-Flag", " YES"); err != nil {
				return nil, err
			}
			if err := m.AddHeader("X-Spam-Status", fmt.Sprintf(" Yes, score=%.1f; %s", d.Score, d.Message)); err != nil {
				return nil, err
			}
		}
	}
	return final{milter.ActAccept, nil}, nil
}

// judge evaluates the stages in order on what the MTA told: connect, HELO
// and MAIL once; each recipient on those results, separately; then the
// message. The first refusal ends it. A recipient's quarantine carries to
// the message.
func (s *session) judge(ctx context.Context) (d verdict.Decision, junk bool) {
	p := s.f.Policy
	vs := verdict.Session{IP: s.ip, HELO: s.helo, MailFrom: s.from, AuthUser: s.auth, TLS: s.tls}
	for _, st := range []verdict.Stage{verdict.Connect, verdict.Helo, verdict.Mail} {
		if d = p.Evaluate(ctx, &vs, st); d.Action >= verdict.TempFail {
			return d, false
		}
	}
	for _, r := range s.rcpts {
		rd := p.Evaluate(ctx, vs.ForRcpt(r), verdict.Rcpt)
		if rd.Action >= verdict.TempFail {
			return rd, false
		}
		junk = junk || rd.Action == verdict.Quarantine
	}
	vs.Message = s.msg
	d = p.Evaluate(ctx, &vs, verdict.Data)
	junk = junk || d.Action == verdict.Quarantine
	return d, junk && d.Action < verdict.TempFail
}

// final is a response that ends the message but, unlike go-milter's own
// responses, reports Continue: go-milter v0.5.0 replaces the Milter with a
// fresh one after any non-continue response, which would lose the
// client's IP address and HELO name for the next message on the same SMTP
// connection (the MTA does not send them again). Our session resets its
// per-message state itself, in MailFrom and Abort.
type final struct {
	code milter.ActionCode
	data []byte
}

func (r final) Response() *milter.Message { return &milter.Message{Code: byte(r.code), Data: r.data} }
func (r final) Continue() bool            { return true }

// replyCode answers with the decision's SMTP reply (SMFIR_REPLYCODE).
// Sendmail and Postfix read '%' in it as a format character: it is doubled.
func replyCode(d verdict.Decision) final {
	code, class := d.Code, d.Action
	if class == verdict.Reject && (code < 500 || code > 599) {
		code = 550
	}
	if class == verdict.TempFail && (code < 400 || code > 499) {
		code = 451
	}
	text := strings.ReplaceAll(verdict.Printable(d.Message), "%", "%%")
	e := d.Enhanced
	if !validEnhanced(e, code) {
		e = fmt.Sprintf("%d.7.1", code/100)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d %s %s", code, e, text)
	b.WriteByte(0)
	return final{milter.ActReplyCode, b.Bytes()}
}

// refuse answers with a reply of the milter's own.
func refuse(code int, enhanced, text string) final {
	return replyCode(verdict.Decision{Action: verdict.Reject, Code: code, Enhanced: enhanced, Message: text})
}

func validEnhanced(e string, code int) bool {
	parts := strings.Split(e, ".")
	if len(parts) != 3 || parts[0] != fmt.Sprint(code/100) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
