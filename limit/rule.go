package limit

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mtaguard/mtaguard/internal/address"
)

// Counter is what a Rule counts.
type Counter uint8

const (
	// Connections counts the connections open at once (a concurrency
	// limit, Rule.Max): see Checker.Acquire and Listen.
	Connections Counter = iota
	// Connects counts new connections over time (Rule.Rate), like
	// Postfix's smtpd_client_connection_rate_limit.
	Connects
	// Messages counts MAIL commands (Postfix smtpd_client_message_rate_limit).
	Messages
	// Recipients counts RCPT commands (smtpd_client_recipient_rate_limit).
	Recipients
	// UnknownRecipients counts recipients the server refused as unknown,
	// reported with Checker.Report: a dictionary attack guesses many.
	UnknownRecipients
	// AuthFailures counts failed SMTP AUTH attempts, reported with
	// Checker.Report (smtpd_client_auth_rate_limit counts all attempts;
	// this counts the failures, so a user who logs in is not limited).
	AuthFailures
	// Errors counts commands the server answered with an error, reported
	// with Checker.Report (like smtpd_hard_error_limit, but across
	// connections).
	Errors
)

var counterNames = [...]string{"connections", "connects", "messages", "recipients", "unknown-recipients", "auth-failures", "errors"}

// String returns the counter's name ("connections", "connects", "messages",
// "recipients", "unknown-recipients", "auth-failures", "errors").
func (c Counter) String() string {
	if int(c) < len(counterNames) {
		return counterNames[c]
	}
	return "counter(" + strconv.Itoa(int(c)) + ")"
}

// event reports whether the server reports the counter's events with
// Checker.Report rather than the checks counting them.
func (c Counter) event() bool { return c >= UnknownRecipients }

// Subject is what a Rule's counter is kept per.
type Subject uint8

const (
	// Client keys the counter on the client's address, at the prefix
	// lengths of Rule.IPv4Prefix and Rule.IPv6Prefix.
	Client Subject = iota
	// User keys it on the SMTP AUTH identity; sessions without one are
	// not counted.
	User
	// Sender keys it on the envelope sender (lower-cased); the null
	// sender is not counted.
	Sender
	// RecipientDomain keys it on the domain of the recipient.
	RecipientDomain
)

var subjectNames = [...]string{"client", "user", "sender", "rcpt-domain"}

// String returns the subject's name ("client", "user", "sender", "rcpt-domain").
func (s Subject) String() string {
	if int(s) < len(subjectNames) {
		return subjectNames[s]
	}
	return "subject(" + strconv.Itoa(int(s)) + ")"
}

// Rule is one limit: what is counted, per what, and how much is allowed.
type Rule struct {
	// Name tells the rule apart from the others sharing a Store: it is
	// part of the counter's key and of the result's reason. Rules with
	// the same Name, Counter and Subject share their counters. Default:
	// counter, subject and prefix lengths, e.g. "connects/client/32/64".
	Name    string
	Counter Counter
	Subject Subject

	// IPv4Prefix and IPv6Prefix are the prefix lengths a Client counter
	// is kept at: 32 and 64 by default; /24 and /48 count a network.
	IPv4Prefix, IPv6Prefix int

	// Rate limits the rate counters (every Counter but Connections).
	Rate Rate
	// Max limits Connections: the connections open at once.
	Max int
}

// rule is a Rule resolved: defaults filled in.
type rule struct {
	Rule
	bits4, bits6 uint8
}

func resolveRule(r Rule) rule {
	x := rule{Rule: r, bits4: uint8(prefixLen(r.IPv4Prefix, 32, 32)), bits6: uint8(prefixLen(r.IPv6Prefix, 64, 128))}
	if x.Name == "" {
		x.Name = r.Counter.String() + "/" + r.Subject.String()
		if r.Subject == Client {
			x.Name += "/" + strconv.Itoa(int(x.bits4)) + "/" + strconv.Itoa(int(x.bits6))
		}
	}
	return x
}

func prefixLen(n, def, most int) int {
	if n <= 0 || n > most {
		return def
	}
	return n
}

// Key names one counter: a rule and the subject it is kept for. It is
// comparable, so a Store can use it as a map key.
type Key struct {
	Rule    string       // the rule's Name
	Counter Counter      // the rule's Counter
	Prefix  netip.Prefix // Client: the client's network at the rule's prefix length
	Name    string       // User, Sender, RecipientDomain: the subject, lower-cased
}

// key returns the rule's key for the facts, and false when the facts have
// no subject for it (no address, no AUTH identity, the null sender).
func (r *rule) key(f *Facts) (Key, bool) {
	k := Key{Rule: r.Name, Counter: r.Counter}
	switch r.Subject {
	case Client:
		ip := f.IP.Unmap().WithZone("")
		if !ip.IsValid() {
			return k, false
		}
		bits := r.bits6
		if ip.Is4() {
			bits = r.bits4
		}
		k.Prefix, _ = ip.Prefix(int(bits))
	case User:
		k.Name = f.User
	case Sender:
		k.Name = lower(strings.Trim(f.Sender, "<>"))
	case RecipientDomain:
		k.Name, _ = address.Domain(f.Rcpt)
	}
	return k, k.Prefix.IsValid() || k.Name != ""
}

// lower is strings.ToLower for ASCII, without allocating when s is
// already lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// subject renders the key's subject for a reason.
func (k Key) subject() string {
	if k.Prefix.IsValid() {
		if k.Prefix.Bits() == k.Prefix.Addr().BitLen() {
			return k.Prefix.Addr().String()
		}
		return k.Prefix.String()
	}
	return k.Name
}

// Facts are what the counters are kept per: the facts of a session.
type Facts struct {
	IP     netip.Addr
	User   string // SMTP AUTH identity
	Sender string // envelope sender
	Rcpt   string // recipient
}

// defaultLease is how long a concurrency lease lasts without renewal.
const defaultLease = 10 * time.Minute
