package message

import "strings"

// Finding is a set of the faults Inspect finds in a message.
type Finding uint32

// The faults. The first five are structural: a mail reader may show
// something else than what the checks read, so they demand 550 5.6.0
// unless Options.ScoreOnly is set. The others only score.
const (
	// SeveralFrom: more than one From field (RFC 5322 §3.6 allows one).
	// DMARC judges one, the reader may show the other.
	SeveralFrom Finding = 1 << iota
	// LeadingContinuation: the header section starts with white space
	// (RFC 5322 §2.2.3), which joins the first field a server prepends.
	LeadingContinuation
	// BareCR: a CR not followed by LF, in the header or the body
	// (RFC 5321 §2.3.8): a line end to some readers, not to others.
	BareCR
	// NoColon: a header line that is neither a field nor a continuation;
	// some readers end the header section there, others skip the line.
	NoColon
	// HeaderTooLarge: a header section over the bounds of the shared
	// reader (1 MiB, 1000 fields): the fields beyond are unchecked.
	HeaderTooLarge

	// NoFrom: no From field.
	NoFrom
	// NoDate: no Date field.
	NoDate
	// SeveralDate: more than one Date field.
	SeveralDate
	// BadDate: a Date field that does not parse (RFC 5322 §3.3).
	BadDate
	// DateFuture: a Date further ahead than Options.MaxFuture.
	DateFuture
	// DatePast: a Date further back than Options.MaxPast.
	DatePast
	// Duplicate: a repeated Sender, Reply-To, To, Cc, Subject,
	// Message-ID, In-Reply-To or References (RFC 5322 §3.6).
	Duplicate
	// NoMessageID: no Message-ID field (RFC 5322 §3.6.4 says SHOULD).
	NoMessageID
	// BadName: a field name with a byte outside RFC 5322 ftext.
	BadName
	// NonASCIIName: a field name with 8-bit bytes, never allowed.
	NonASCIIName
	// LongLine: a line of more than 998 bytes (RFC 5322 §2.1.1).
	LongLine
	// NUL: a NUL byte (RFC 5322 §2.1, RFC 5321 §2.3.8).
	NUL
	// BareLF: an LF not preceded by CR.
	BareLF
	// EightBitHeader: 8-bit bytes in the header without SMTPUTF8
	// (RFC 6532).
	EightBitHeader
	// EightBitBody: 8-bit bytes in the body without BODY=8BITMIME or
	// SMTPUTF8 (RFC 6152).
	EightBitBody
	// MultiRecipientBounce: a message from the null sender to more than
	// one recipient; a real bounce goes to one (Postfix
	// reject_multi_recipient_bounce).
	MultiRecipientBounce

	endFinding
)

// Structural are the findings that demand 550 5.6.0 by default.
const Structural = SeveralFrom | LeadingContinuation | BareCR | NoColon | HeaderTooLarge

var findingNames = []string{
	"several-from", "leading-continuation", "bare-cr", "no-colon", "header-too-large",
	"no-from", "no-date", "several-date", "bad-date", "date-future", "date-past",
	"duplicate", "no-message-id", "bad-name", "non-ascii-name", "long-line", "nul",
	"bare-lf", "8bit-header", "8bit-body", "multi-recipient-bounce",
}

// String returns the names of the findings, joined by commas, in the
// order of the constants: "several-from,bare-cr".
func (f Finding) String() string {
	var names []string
	for i, name := range findingNames {
		if f&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ",")
}
