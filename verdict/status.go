package verdict

import "strconv"

// Stage says when a check can run: which facts of the session it needs.
type Stage uint8

const (
	Connect Stage = iota // client IP known
	Helo                 // HELO/EHLO name known
	Mail                 // MAIL FROM known
	Rcpt                 // one RCPT TO known (evaluated per recipient)
	Data                 // whole message known
)

var stageNames = [...]string{"connect", "helo", "mail", "rcpt", "data"}

// String returns the stage's lower-case name ("connect", "helo", ...).
func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "stage(" + strconv.Itoa(int(s)) + ")"
}

// Status is a check's result in the words of RFC 8601 §2.7.
type Status uint8

const (
	None Status = iota
	Pass
	Neutral
	SoftFail
	Fail
	TempError
	PermError
)

var statusNames = [...]string{"none", "pass", "neutral", "softfail", "fail", "temperror", "permerror"}

// String returns the RFC 8601 result word: "none", "pass", "neutral",
// "softfail", "fail", "temperror" or "permerror".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Action is what a decision asks the SMTP server to do. Actions are ordered
// by severity, so the more severe of two is the larger.
type Action uint8

const (
	Accept     Action = iota
	Quarantine        // accept, but mark or file as junk
	TempFail          // 4xx: try again later
	Reject            // 5xx: permanent refusal
)

var actionNames = [...]string{"accept", "quarantine", "tempfail", "reject"}

// String returns the action's lower-case name ("accept", "quarantine",
// "tempfail", "reject").
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}
