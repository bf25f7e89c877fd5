// Package screen tells apart SMTP clients that behave like mail servers
// from spam robots before the SMTP dialogue starts, as Postfix's
// postscreen does: a Listener in front of any Go SMTP server that holds
// back the greeting for a while and watches what the client does.
//
// A client that speaks before its greeting is a pregreet talker. After
// the greeting, the "deep" tests watch for commands sent without waiting
// for replies (SMTP pipelining that was not offered), for commands of
// other protocols (an HTTP request, a proxy CONNECT, POP3's USER), and
// for lines ending in a bare LF. A client cannot be handed to the real
// server in the middle of a dialogue, so the deep tests take a dialogue
// of their own, which ends in "450 4.3.2" to every recipient: a real mail
// server retries later, and having passed, is let through at once for
// the tests' lifetime (an allow Cache, in memory or in Redis).
//
// What the screen found about a client it lets through (a pregreet
// talker, or a failure the Options ignore) travels with the connection:
// the Listener's connections are *Conn, whose Results a server appends to
// the session's results before it evaluates the Connect stage, so that a
// verdict.Policy can score the findings instead of refusing outright.
// Behind a load balancer the Listener reads the PROXY protocol header
// (version 1 or 2) from the proxies it is told to trust, and the
// connection's RemoteAddr is then the real client's.
//
// The practice: Postfix postscreen(8) (greet wait, pipelining,
// non-SMTP command and bare newline tests, the temporary allow list),
// Haraka's early_talker, the HAProxy PROXY protocol specification.
package screen

import (
	"strings"

	"github.com/mtaguard/mtaguard/verdict"
)

// Name is the name of the screen's results.
const Name = "screen"

// Test is a set of the screen's tests; as a finding, the tests a client
// failed.
type Test uint8

const (
	// Pregreet: the client spoke before the greeting was complete.
	Pregreet Test = 1 << iota
	// Pipelining: the client sent a command before the reply to the
	// previous one, without PIPELINING offered (RFC 5321 §4.1.1 expects
	// a client to wait; RFC 2920 is the exception the screen does not
	// offer).
	Pipelining
	// NonSMTP: the client sent a command of another protocol: an HTTP
	// request (GET, POST, HEAD, PUT), a proxy CONNECT, POP3's USER and
	// PASS, or a line that does not begin with a letter.
	NonSMTP
	// BareLF: the client ended a line with LF alone (RFC 5321 §2.3.8
	// requires CRLF).
	BareLF

	// DeepTests are the tests after the greeting.
	DeepTests = Pipelining | NonSMTP | BareLF
	// AllTests are all the tests.
	AllTests = Pregreet | DeepTests
)

var testNames = [...]string{"pregreet", "pipelining", "non-smtp", "bare-lf"}

// String returns the tests' names separated by commas
// ("pregreet,bare-lf"), or "none".
func (t Test) String() string {
	if t == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range testNames {
		if t&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// Scores are the scores of the findings, added up in a Result.
type Scores struct {
	Pregreet   float64
	Pipelining float64
	NonSMTP    float64
	BareLF     float64
	Passed     float64 // no finding (negative: some trust)
}

// DefaultScores are the scores Result uses. A pregreet talker is a robot
// almost always; a bare LF comes from some home-made but honest senders.
// Do not modify it; set Options.Scores instead.
var DefaultScores = Scores{Pregreet: 5, Pipelining: 3, NonSMTP: 5, BareLF: 1}

// Result turns findings into a verdict.Result scored with DefaultScores.
// No finding is Pass; findings are Fail with the sum of their scores and
// no demand, so a Policy's thresholds decide.
func Result(findings Test) verdict.Result {
	return DefaultScores.result(findings, "")
}

func (s *Scores) result(f Test, how string) verdict.Result {
	if f == 0 {
		r := verdict.Result{Check: Name, Status: verdict.Pass, Score: s.Passed, Reason: "passed screening"}
		if how != "" {
			r.Reason += " (" + how + ")"
		}
		return r
	}
	score := 0.0
	for i, v := range [...]float64{s.Pregreet, s.Pipelining, s.NonSMTP, s.BareLF} {
		if f&(1<<i) != 0 {
			score += v
		}
	}
	return verdict.Result{Check: Name, Status: verdict.Fail, Score: score, Reason: "screening found " + f.String()}
}
