package verdict

import (
	"net/netip"
	"slices"

	"github.com/mtaguard/mtaguard/internal/address"
)

// Session is what the SMTP server knows about one client connection and
// transaction. A server fills in the facts as the dialogue goes on and passes
// the same Session to Policy.Evaluate at each stage.
type Session struct {
	IP       netip.Addr
	HELO     string
	MailFrom string // envelope sender; "" is the null sender
	Rcpt     string // the recipient being evaluated at the Rcpt stage
	AuthUser string // SMTP AUTH identity; "" when not authenticated
	TLS      bool   // TLS in effect
	// ClientCert is the fingerprint of the TLS client certificate the
	// client presented and the handshake accepted (SHA-256 of its DER
	// encoding, lower-case hex: relay.Fingerprint's form); "" without one.
	ClientCert string
	Message    []byte   // the raw message, at the Data stage
	Results    []Result // results of earlier stages (Evaluate appends)

	// SMTPUTF8 and EightBitMIME say what the client declared on MAIL FROM:
	// the SMTPUTF8 parameter (RFC 6531: UTF-8 addresses and header fields)
	// and BODY=8BITMIME (RFC 6152: 8-bit body). Without them, 8-bit bytes
	// in an address or in the message are a protocol violation.
	SMTPUTF8     bool
	EightBitMIME bool

	// Rcpts are the recipients accepted so far in the transaction; at the
	// Data stage, all of them.
	Rcpts []string

	// Trusted says that the client is one of our own (Policy.TrustedNets,
	// or the server's own knowledge): the checks that treat our own
	// clients differently (helo, relay, greylist, Policy.Exempt) read it
	// rather than keeping their own list of networks.
	Trusted bool
}

// Result returns the latest result of the named check among the session's
// results, so that a check can use what an earlier one found (helo reads
// the fcrdns name; dmarc reads spf and dkim).
func (s *Session) Result(check string) (Result, bool) {
	for i := len(s.Results) - 1; i >= 0; i-- {
		if s.Results[i].Check == check {
			return s.Results[i], true
		}
	}
	return Result{}, false
}

// ForRcpt returns a copy of s for evaluating the Rcpt stage for one
// recipient. Each recipient of a transaction is judged on its own: a relay
// denial or greylisting of one must not weigh on the next, so the copy
// shares the results of the earlier stages but appends its own elsewhere.
// Evaluate the Data stage on s itself.
func (s *Session) ForRcpt(rcpt string) *Session {
	c := *s
	c.Rcpt = rcpt
	c.Results = s.Results[:len(s.Results):len(s.Results)]
	return &c
}

// Reset drops the results of stage from and later stages, and forgets the
// facts learned at those stages, for the server to call when the SMTP
// dialogue goes back: Reset(Mail) at RSET, at a new MAIL FROM and after a
// refused MAIL FROM (RFC 5321 §4.1.1.5, §4.1.1.2: the transaction's
// sender, recipients and message go, the client's greeting stays);
// Reset(Helo) at a new EHLO. The facts forgotten are Message (from Data
// or earlier), Rcpt and Rcpts (from Rcpt or earlier), MailFrom, SMTPUTF8
// and EightBitMIME (from Mail or earlier) and HELO (from Helo or
// earlier). Results that a check abandoned at a stage deadline may still
// be reading are never overwritten: later results go to new memory.
func (s *Session) Reset(from Stage) {
	keep := 0
	for keep < len(s.Results) && s.Results[keep].Stage < from {
		keep++
	}
	rest := s.Results[keep:]
	if slices.ContainsFunc(rest, func(r Result) bool { return r.Stage < from }) {
		// Out of stage order (results appended by the caller, or by
		// EvaluateAll): copy those to keep.
		kept := slices.Clone(s.Results[:keep])
		for _, r := range rest {
			if r.Stage < from {
				kept = append(kept, r)
			}
		}
		s.Results = slices.Clip(kept)
	} else {
		s.Results = s.Results[:keep:keep]
	}
	if from <= Data {
		s.Message = nil
	}
	if from <= Rcpt {
		s.Rcpt, s.Rcpts = "", nil
	}
	if from <= Mail {
		s.MailFrom, s.SMTPUTF8, s.EightBitMIME = "", false, false
	}
	if from <= Helo {
		s.HELO = ""
	}
}

// SenderDomain returns the lower-case domain of s.MailFrom, in whatever form
// the server stored it: with or without angle brackets, with a source route
// (RFC 5321 Appendix C), with one trailing dot. It returns "" for the null
// sender, an address without a domain and an address literal.
func (s *Session) SenderDomain() string {
	d, _ := address.Domain(s.MailFrom)
	return d
}
