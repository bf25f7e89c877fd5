package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mtaguard/mtaguard/verdict"
)

// report is what mtacheck found: the decision of each stage evaluated, and
// the final one.
type report struct {
	Stages                []stageReport `json:"stages"`
	Final                 decision      `json:"final"`
	StoppedAt             string        `json:"stopped_at,omitempty"` // the stage at which a server would refuse
	AuthenticationResults string        `json:"authentication_results"`
}

type stageReport struct {
	Stage    string   `json:"stage"`
	Rcpt     string   `json:"rcpt,omitempty"`
	Results  []result `json:"results"`
	Decision decision `json:"decision"`
}

type result struct {
	Check  string  `json:"check"`
	Status string  `json:"status"`
	Score  float64 `json:"score"`
	Action string  `json:"action"`
	Reason string  `json:"reason"`
	Error  string  `json:"error,omitempty"`
}

type decision struct {
	Action   verdict.Action `json:"-"`
	Name     string         `json:"action"`
	Score    float64        `json:"score"`
	Code     int            `json:"code"`
	Enhanced string         `json:"enhanced"`
	Message  string         `json:"message"`
	Would    string         `json:"would,omitempty"` // under -monitor, the action the policy reached
}

func newDecision(d verdict.Decision) decision {
	dd := decision{Action: d.Action, Name: d.Action.String(), Score: d.Score, Code: d.Code, Enhanced: d.Enhanced, Message: d.Message}
	if d.Would != d.Action {
		dd.Would = d.Would.String()
	}
	return dd
}

// would is the text that says what a monitored decision would have been.
func (d decision) would() string {
	if d.Would == "" {
		return ""
	}
	return " (monitor: would " + d.Would + ")"
}

// explain evaluates the session as an SMTP server would: connect, HELO and
// MAIL in turn, each recipient on its own, and the message if one was
// given. A server would end the session at the first refusal; mtacheck
// notes that stage and its decision as the final one, but goes on, so that
// every check is explained.
func explain(ctx context.Context, p *verdict.Policy, s *verdict.Session, rcpts []string, authservID string) report {
	var rep report
	stop := func(stage verdict.Stage, d decision) {
		if rep.StoppedAt == "" {
			rep.StoppedAt = stage.String()
			rep.Final = d
		}
	}
	add := func(stage verdict.Stage, rcpt string, before int, d verdict.Decision) decision {
		sr := stageReport{Stage: stage.String(), Rcpt: rcpt, Decision: newDecision(d)}
		for _, r := range d.Results[before:] {
			x := result{Check: r.Check, Status: r.Status.String(), Score: r.Score, Action: r.Action.String(), Reason: verdict.Printable(r.Reason)}
			if r.Err != nil {
				x.Error = verdict.Printable(r.Err.Error())
			}
			sr.Results = append(sr.Results, x)
		}
		rep.Stages = append(rep.Stages, sr)
		if rep.StoppedAt == "" {
			rep.Final = sr.Decision
		}
		return sr.Decision
	}
	var last verdict.Decision
	for _, stage := range []verdict.Stage{verdict.Connect, verdict.Helo, verdict.Mail} {
		before := len(s.Results)
		last = p.Evaluate(ctx, s, stage)
		if d := add(stage, "", before, last); d.Action >= verdict.TempFail {
			stop(stage, d)
		}
	}
	accepted := 0
	var worst decision
	for _, rcpt := range rcpts {
		rs := s.ForRcpt(rcpt)
		before := len(rs.Results)
		d := add(verdict.Rcpt, rcpt, before, p.Evaluate(ctx, rs, verdict.Rcpt))
		if d.Action < verdict.TempFail {
			accepted++
		} else if d.Action >= worst.Action {
			worst = d
		}
	}
	if len(rcpts) > 0 && accepted == 0 {
		stop(verdict.Rcpt, worst)
	}
	if s.Message != nil {
		before := len(s.Results)
		last = p.Evaluate(ctx, s, verdict.Data)
		if d := add(verdict.Data, "", before, last); d.Action >= verdict.TempFail {
			stop(verdict.Data, d)
		}
	}
	rep.AuthenticationResults = last.AuthenticationResults(authservID)
	return rep
}

func (rep *report) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tCHECK\tSTATUS\tSCORE\tACTION\tREASON")
	for _, st := range rep.Stages {
		stage := st.Stage
		if st.Rcpt != "" {
			stage += " " + verdict.Printable(st.Rcpt)
		}
		if len(st.Results) == 0 {
			fmt.Fprintf(tw, "%s\t-\t\t\t\t(no checks at this stage)\n", stage)
		}
		for _, r := range st.Results {
			action := ""
			if r.Action != verdict.Accept.String() {
				action = r.Action
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%+.2f\t%s\t%s\n", stage, r.Check, r.Status, r.Score, action, r.Reason)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, st := range rep.Stages {
		d := st.Decision
		label := st.Stage
		if st.Rcpt != "" {
			label += " " + verdict.Printable(st.Rcpt)
		}
		fmt.Fprintf(w, "%-28s %-10s score %6.2f  %d %s %s%s\n", label+":", d.Name, d.Score, d.Code, d.Enhanced, d.Message, d.would())
	}
	fmt.Fprintln(w)
	verdictLine := strings.ToUpper(rep.Final.Name)
	if rep.StoppedAt != "" {
		verdictLine += " at " + rep.StoppedAt + " (later stages shown for explanation)"
	}
	fmt.Fprintf(w, "Decision: %s (score %.2f): %d %s %s%s\n", verdictLine, rep.Final.Score, rep.Final.Code, rep.Final.Enhanced, rep.Final.Message, rep.Final.would())
	_, err := fmt.Fprintf(w, "Authentication-Results: %s\n", rep.AuthenticationResults)
	return err
}

func (rep *report) writeJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}
