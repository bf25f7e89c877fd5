// Package message decides whether a message is well formed enough to take:
// one From, one Date, no repeated single-instance fields, a header section
// that every mail reader splits the same way, lines within RFC 5322's
// limits, no NUL, no bare CR or LF, and 8-bit bytes only where the client
// announced them. It also flags a bounce sent to several recipients.
//
// Malformed structure matters to a border because the checks that read a
// message (DKIM, DMARC, the scanners) and the program that finally shows it
// must see the same thing. A message with two From fields lets DMARC vouch
// for one while the reader displays the other; a bare CR is a line end to
// some readers and not to others; a header section that opens with a
// continuation line glues the client's text onto the first field the
// server prepends. Those breaks demand 550 5.6.0 by default
// (Options.ScoreOnly turns that off). Everything else found only scores,
// with weights taken from rspamd's rules (headers_checks.lua, misc.lua):
// many MUAs leave the Message-ID to the server, and mail older than a day
// is usually a retry, not a forgery.
//
// This is what Exim's "verify = header_syntax", Haraka's headers plugin,
// Postfix's reject_multi_recipient_bounce and rspamd's header rules do.
// The header section is read with the same bounded reader as the other
// packages of this module, so every check sees the same fields.
package message

import (
	"bytes"
	"encoding/binary"
	"net/mail"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/internal/header"
)

// Envelope is what the SMTP dialogue said about the message.
type Envelope struct {
	MailFrom     string   // the envelope sender; "" or "<>" is the null sender
	Rcpts        []string // the accepted recipients
	EightBitMIME bool     // the client gave BODY=8BITMIME (RFC 6152)
	SMTPUTF8     bool     // the client gave SMTPUTF8 (RFC 6531)
}

// MaxLine is the longest line RFC 5322 §2.1.1 allows, without its CRLF.
const MaxLine = 998

// Inspect reads message and returns what is wrong with it. now is the
// time the message arrived, for the Date checks; o gives the Date limits
// (a nil *Options means the defaults). It reads the message once and copies
// nothing of the body.
func Inspect(e Envelope, message []byte, now time.Time, o *Options) Finding {
	return inspect(e, message, now, o).found
}

// report is what inspect found: the findings, and the repeated
// single-instance fields with the highest of their weights.
type report struct {
	found    Finding
	repeated []string
	weight   float64
}

func inspect(e Envelope, message []byte, now time.Time, o *Options) report {
	var r report
	sec, err := header.Parse(message)
	if err != nil {
		// Over header.MaxSize or MaxFields: no check of this module
		// reads past that point, so what a reader sees is unchecked.
		r.found = HeaderTooLarge | inspectBody(message, e)
		return r
	}
	var f Finding
	fl := sec.Flaws
	if fl.Has(header.LeadingContinuation) {
		f |= LeadingContinuation
	}
	if fl.Has(header.BareCR) {
		f |= BareCR
	}
	if fl.Has(header.BareLF) {
		f |= BareLF
	}
	if fl.Has(header.NUL) {
		f |= NUL
	}
	if fl.Has(header.LongLine) {
		f |= LongLine
	}
	if fl.Has(header.EightBit) && !e.SMTPUTF8 {
		// RFC 6532 allows UTF-8 in header fields only under SMTPUTF8;
		// 8BITMIME covers the body alone (RFC 6152 §3).
		f |= EightBitHeader
	}
	for i, fd := range sec.Fields {
		if fd.Name == "" {
			if i > 0 || !fl.Has(header.LeadingContinuation) {
				f |= NoColon
			}
			continue
		}
		if !ascii(fd.Name) {
			// Never allowed, not even under SMTPUTF8 (RFC 6532 §3.2
			// extends field bodies only).
			f |= NonASCIIName
		} else if !ftext(fd.Name) {
			f |= BadName
		}
	}
	f |= inspectFields(sec, now, o, &r)
	if isNull(e.MailFrom) && len(e.Rcpts) > 1 {
		f |= MultiRecipientBounce
	}
	if sec.Len < len(message) {
		f |= inspectBody(message[sec.Len:], e)
	}
	r.found = f
	return r
}

// singleFields are the fields RFC 5322 §3.6 allows at most once, besides
// From and Date, with rspamd's multiplier of its MULTIPLE_UNIQUE_HEADERS
// weight (headers_checks.lua): a repeated Reply-To or Sender changes where
// answers go, a repeated To or Cc hardly matters.
var singleFields = []struct {
	name   string
	weight float64
}{
	{"Sender", 1}, {"Reply-To", 1}, {"To", 0.2}, {"Cc", 0.1}, {"Subject", 0.7},
	{"Message-ID", 0.7}, {"In-Reply-To", 0.7}, {"References", 0.3},
}

// inspectFields checks the fields RFC 5322 §3.6 counts.
func inspectFields(sec *header.Section, now time.Time, o *Options, r *report) Finding {
	var f Finding
	from, date, mid := 0, 0, 0
	var dateValue string
	counts := make([]int, len(singleFields))
	for _, fd := range sec.Fields {
		switch {
		case fd.Is("From"):
			from++
		case fd.Is("Date"):
			date++
			dateValue = fd.Value
		}
		if fd.Is("Message-ID") {
			mid++
		}
		for i, s := range singleFields {
			if fd.Is(s.name) {
				counts[i]++
			}
		}
	}
	switch {
	case from == 0:
		f |= NoFrom
	case from > 1:
		f |= SeveralFrom
	}
	switch {
	case date == 0:
		f |= NoDate
	case date > 1:
		f |= SeveralDate
	default:
		f |= checkDate(dateValue, now, o)
	}
	if mid == 0 {
		f |= NoMessageID
	}
	for i, n := range counts {
		if n > 1 {
			f |= Duplicate
			r.repeated = append(r.repeated, singleFields[i].name)
			r.weight = max(r.weight, singleFields[i].weight)
		}
	}
	return f
}

// checkDate parses a Date field (RFC 5322 §3.3, with the obsolete forms
// net/mail reads) and compares it with now.
func checkDate(v string, now time.Time, o *Options) Finding {
	t, err := mail.ParseDate(strings.TrimSpace(v))
	if err != nil {
		return BadDate
	}
	future, past := o.dateLimits()
	switch d := t.Sub(now); {
	case d > future:
		return DateFuture
	case -d > past:
		return DatePast
	}
	return 0
}

// isNull reports whether the envelope sender is the null sender.
func isNull(mailFrom string) bool {
	s := strings.TrimSpace(mailFrom)
	return s == "" || s == "<>"
}

// inspectBody checks the lines of the body in one pass over the line ends
// plus three vectorised scans (NUL, CR count, 8-bit), none of which
// copies anything.
func inspectBody(b []byte, e Envelope) Finding {
	var f Finding
	if bytes.IndexByte(b, 0) >= 0 {
		f |= NUL
	}
	if !e.EightBitMIME && !e.SMTPUTF8 && !ascii8(b) {
		f |= EightBitBody
	}
	crlf := 0
	rest := b
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(rest) > MaxLine {
				f |= LongLine
			}
			break
		}
		n := i
		if i > 0 && rest[i-1] == '\r' {
			crlf++
			n--
		} else {
			f |= BareLF
		}
		if n > MaxLine {
			f |= LongLine
		}
		rest = rest[i+1:]
	}
	// Every CR must be the first half of a CRLF.
	if bytes.Count(b, []byte{'\r'}) != crlf {
		f |= BareCR
	}
	return f
}

// ascii8 reports whether b has no byte over 127, eight bytes at a time.
func ascii8(b []byte) bool {
	const hi = 0x8080808080808080
	for len(b) >= 32 {
		acc := binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:]) |
			binary.LittleEndian.Uint64(b[16:]) | binary.LittleEndian.Uint64(b[24:])
		if acc&hi != 0 {
			return false
		}
		b = b[32:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ftext reports whether s is a field name of RFC 5322 §3.6.8: printable
// ASCII but the colon.
func ftext(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return s != ""
}
