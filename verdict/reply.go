package verdict

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// String renders the decision as an SMTP reply line, e.g.
// "554 5.7.1 Relay access denied".
func (d Decision) String() string {
	return strconv.Itoa(d.Code) + " " + d.Enhanced + " " + d.Message
}

// reply sets the reply code and text of d, whose Action is decided; demand
// is the most severe action the results demanded.
func (p *Policy) reply(d *Decision, results []Result, stage Stage, demand Action) {
	var why []string
	demanded := false
	switch {
	case d.Action == Accept:
		d.Code, d.Enhanced = 250, acceptEnhanced(stage)
	case demand == d.Action:
		// A demand drove the action: its reply code wins, and the reply
		// is the reasons of the results that made the demand, as Postfix
		// answers "554 5.7.1 Relay access denied".
		demanded = true
		for _, r := range results {
			if r.Action != d.Action {
				continue
			}
			if d.Code == 0 && r.Code != 0 {
				d.Code, d.Enhanced = r.Code, r.Enhanced
			}
			if reason := Printable(r.Reason); reason != "" {
				why = append(why, reason)
			}
		}
	default:
		// The score drove the action: name the results that added to it,
		// the largest first.
		why = p.scoreReasons(results)
	}
	if d.Code == 0 {
		d.Code, d.Enhanced = defaultReply(d.Action, stage)
	}
	// Quarantine is an accepted message: the reply is a 2xx whatever a
	// result asked for.
	if d.Action == Quarantine {
		d.Code, d.Enhanced = 250, acceptEnhanced(stage)
	}
	d.Message = p.message(*d, why, demanded)
}

// scoreReasons lists the reasons of results with a positive weighted score,
// largest first (ties in the order of the results).
func (p *Policy) scoreReasons(results []Result) []string {
	type scored struct {
		score float64
		r     Result
	}
	var top []scored
	for _, r := range results {
		if sc := p.weight(r.Check) * r.Score; sc > 0 {
			top = append(top, scored{sc, r})
		}
	}
	slices.SortStableFunc(top, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	var why []string
	for _, t := range top {
		why = appendReason(why, t.r)
	}
	return why
}

func appendReason(why []string, r Result) []string {
	reason := Printable(r.Reason)
	if reason == "" {
		reason = r.Status.String()
	}
	return append(why, r.Check+": "+reason)
}

// maxMessage keeps a reply line (code, enhanced code, text, CRLF) well under
// the 512 octets RFC 5321 §4.5.3.1.5 allows.
const maxMessage = 400

// message is the reply text: the policy's text for the action, or the
// default one, followed by the reasons; a demand's reasons stand alone
// unless the policy has a text for the action.
func (p *Policy) message(d Decision, why []string, demanded bool) string {
	text, ok := p.Replies[d.Action]
	switch {
	case ok:
		text = Printable(text)
	case demanded && len(why) > 0:
		text = ""
	default:
		text = defaultText[d.Action]
	}
	if len(why) > 0 {
		if text != "" {
			text += ": "
		}
		text += strings.Join(why, "; ")
	}
	return PrintableN(text, maxMessage)
}

var defaultText = [...]string{
	Accept:     "OK",
	Quarantine: "OK",
	TempFail:   "Try again later",
	Reject:     "Refused by policy",
}

func acceptEnhanced(stage Stage) string {
	switch stage {
	case Mail:
		return "2.1.0"
	case Rcpt:
		return "2.1.5"
	}
	return "2.0.0"
}

// defaultReply is the reply of an action no result chose a code for:
// 451 4.7.1 for a temporary refusal, 550 5.7.1 for a permanent one (554
// at the connect stage).
func defaultReply(a Action, stage Stage) (int, string) {
	switch a {
	case TempFail:
		return 451, "4.7.1"
	case Reject:
		if stage == Connect {
			return 554, "5.7.1" // RFC 5321 §3.1: 554 refuses a connection
		}
		return 550, "5.7.1"
	}
	return 250, acceptEnhanced(stage)
}
