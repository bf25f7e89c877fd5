// Package gosmtp puts an mtaguard policy inside a server built on
// github.com/emersion/go-smtp: Wrap returns a Backend whose sessions ask
// the policy at every stage of the dialogue and hand only accepted
// transactions, with an Authentication-Results field added and forged ones
// removed, to the Backend it wraps; Listen runs the connect stage before
// the banner and caps connections.
//
// A complete server:
//
//	p := &verdict.Policy{Checks: checks, Quarantine: 6, Reject: 15}
//	o := &gosmtp.Options{Hostname: "mx.example.net"}
//	srv := smtp.NewServer(gosmtp.Wrap(myBackend, p, o))
//	srv.Domain = o.Hostname
//	log.Fatal(gosmtp.ListenAndServe(srv, ":25", p, o))
//
// The stages, and what the wrapped Backend sees:
//
//   - connect: in Listen, before go-smtp writes its banner (go-smtp has no
//     connect hook). A refused client gets "554 5.7.1 ..." in place of the
//     banner, then "503" to anything but QUIT; a deferred one "421".
//     Without Listen, the connect stage runs at the first HELO/EHLO.
//   - helo: at HELO/EHLO, before the wrapped Backend's NewSession; a later
//     EHLO with another name is judged at the next MAIL.
//   - mail: before the wrapped session's Mail. A refused MAIL leaves no
//     trace in the session (verdict.Session.Reset), so the next MAIL
//     starts clean.
//   - rcpt: for each recipient on its own (verdict.Session.ForRcpt), before
//     the wrapped session's Rcpt.
//   - data: the message is read once, bounded and checked for bare CR and
//     bare LF (SMTP smuggling) and for a header section that begins with a
//     continuation line (both 550 5.6.0), and an empty or From-less message
//     is refused too unless the policy has a check named "message"; the
//     policy judges it whole; the wrapped session's Data then reads it with
//     our fields on top.
//
// Listen also caps connections, globally and per client network (421
// 4.7.0), and Wrap bounds the memory that messages in flight hold: large
// ones are spooled to disk while they arrive, and one that cannot be
// judged within the budget is deferred (452 4.3.1). CHUNKING (BDAT) is
// off unless Options.Chunking is set, because go-smtp v0.25 mishandles a
// BDAT transaction that is broken off.
//
// Refusals are the decision's reply, as an *smtp.SMTPError (see Error).
// A quarantined message is accepted: the reply is the same 250 as for any
// message, and the reasons go to the log and to the X-Spam-Status field
// the wrapped session reads, never to the sender.
package gosmtp

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mtaguard/mtaguard/verdict"
)

// Options configures Wrap and Listen. A nil *Options means the defaults;
// the same Options are normally given to both.
type Options struct {
	// Hostname is our host name: the authserv-id of the
	// Authentication-Results field we add, whose forged copies we remove
	// (RFC 8601 §5), and the name in our 421 replies. Default "localhost";
	// set it.
	Hostname string

	// Logger, if set, receives one Info record per refusal and per
	// message (stage, client, action, score, reply), and warnings.
	Logger *slog.Logger

	// MaxMessageBytes bounds a message; a larger one gets 552 5.3.4.
	// Zero means the go-smtp Server's MaxMessageBytes, or 25 MiB if that
	// is zero too.
	MaxMessageBytes int64

	// SpoolBytes is the size above which a message being received is
	// written to a temporary file in SpoolDir rather than held in memory
	// while the client sends it. Zero means 1 MiB.
	SpoolBytes int64

	// SpoolDir is where large messages are spooled; "" means
	// os.TempDir(). Files are removed when the transaction ends.
	SpoolDir string

	// MemoryBudget bounds the bytes of all the messages held in memory at
	// once, by every session of the Backend: those being received under
	// SpoolBytes and those being judged (a spooled message is read back
	// to be judged). A message that does not fit is refused with 452
	// 4.3.1 ("insufficient system storage", RFC 3463), which the sender
	// retries later. Zero means 256 MiB.
	MemoryBudget int64

	// AcceptMalformed lets through an empty message and one without a
	// From field, which are otherwise refused with 550 5.6.0 (RFC 5322
	// §3.6 requires a From field) unless the policy has a check named
	// "message", which then judges them itself.
	AcceptMalformed bool

	// MaxConns caps the connections Listen lets in at once; a client over
	// it gets "421 4.7.0" and is disconnected. Zero means 1000; negative,
	// no cap.
	MaxConns int

	// MaxConnsPerClient caps the connections of one client network at
	// once (an address masked to ClientBits4 or ClientBits6 bits). Zero
	// means 20; negative, no cap.
	MaxConnsPerClient int

	// ClientBits4 and ClientBits6 are the prefix lengths that make one
	// client network for MaxConnsPerClient: zero means 32 (one IPv4
	// address) and 64 (one IPv6 /64, what one site is given). 24 counts
	// an IPv4 /24 as one client.
	ClientBits4, ClientBits6 int

	// Chunking lets go-smtp offer CHUNKING and take BDAT (RFC 3030) on
	// the connections Listen returns. It is off by default because
	// go-smtp v0.25 races and panics on a BDAT transaction broken off by
	// RSET, EHLO or QUIT; off, such a client is told "502 5.5.1" and its
	// chunk discarded. Wrap's sessions are safe under BDAT either way.
	// After STARTTLS, go-smtp takes BDAT whatever Chunking says.
	Chunking bool

	// Timeout bounds the short exchange with a refused client before
	// Listen closes the connection. Zero means 30 seconds.
	Timeout time.Duration
}

func (o *Options) hostname() string {
	if o.Hostname == "" {
		return "localhost"
	}
	return o.Hostname
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// log records a decision.
func (o *Options) log(stage verdict.Stage, vs *verdict.Session, d verdict.Decision) {
	o.logger().Info("decision", "stage", stage.String(), "ip", vs.IP.String(), "helo", verdict.Printable(vs.HELO),
		"from", verdict.Printable(vs.MailFrom), "rcpt", verdict.Printable(vs.Rcpt),
		"action", d.Action.String(), "would", d.Would.String(), "score", d.Score, "reply", d.String())
}

// Error returns the reply go-smtp must send for d: nil when d accepts
// (Accept, and Quarantine, which accepts the message to file it as junk),
// an *smtp.SMTPError with d's code, enhanced code and text otherwise. A
// Session method must return the *smtp.SMTPError itself: go-smtp does not
// unwrap errors and answers "451 4.0.0" for anything else.
func Error(d verdict.Decision) error {
	if d.Action < verdict.TempFail {
		return nil
	}
	return &smtp.SMTPError{Code: d.Code, EnhancedCode: enhanced(d.Enhanced, d.Code), Message: d.Message}
}

// enhanced parses an RFC 3463 status code ("5.7.1"); a missing or
// malformed one, or one of another class than code, becomes X.0.0 of the
// reply's class.
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

// reply is an *smtp.SMTPError of our own.
func reply(code int, e smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: e, Message: text}
}
