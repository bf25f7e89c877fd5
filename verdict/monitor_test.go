package verdict_test

import (
	"context"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// TestMonitor: in monitor mode every stage answers 250 and Would says what
// the policy would have done, for demands and thresholds alike.
func TestMonitor(t *testing.T) {
	for _, c := range []struct {
		name  string
		p     verdict.Policy
		stage verdict.Stage
		would verdict.Action
	}{
		{"connect reject demand", verdict.Policy{Checks: []verdict.Check{fake{name: "dnsbl", stage: verdict.Connect, res: verdict.Result{Action: verdict.Reject, Code: 554, Enhanced: "5.7.1"}}}}, verdict.Connect, verdict.Reject},
		{"helo score", verdict.Policy{Checks: []verdict.Check{fake{name: "helo", stage: verdict.Helo, res: verdict.Result{Score: 20}}}, Reject: 15}, verdict.Helo, verdict.Reject},
		{"mail tempfail", verdict.Policy{Checks: []verdict.Check{fake{name: "spf", stage: verdict.Mail, res: verdict.Result{Action: verdict.TempFail}}}}, verdict.Mail, verdict.TempFail},
		{"rcpt relay", verdict.Policy{Checks: []verdict.Check{relayLike{}}}, verdict.Rcpt, verdict.Reject},
		{"data quarantine", verdict.Policy{Checks: []verdict.Check{fake{name: "dkim", stage: verdict.Data, res: verdict.Result{Score: 7}}}, Quarantine: 6}, verdict.Data, verdict.Quarantine},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.p.Monitor = true
			s := &verdict.Session{Rcpt: "victim@elsewhere.example"}
			d := c.p.Evaluate(context.Background(), s, c.stage)
			if d.Action != verdict.Accept || d.Code != 250 || d.Would != c.would || d.Message != "OK" {
				t.Errorf("got %v would %v %q, want accept 250 would %v", d.Action, d.Would, d.String(), c.would)
			}
			c.p.Monitor = false
			s = &verdict.Session{Rcpt: "victim@elsewhere.example"}
			if d := c.p.Evaluate(context.Background(), s, c.stage); d.Action != c.would || d.Would != d.Action {
				t.Errorf("without monitor: %v would %v", d.Action, d.Would)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	var obs []verdict.Observation
	p := &verdict.Policy{
		Checks: []verdict.Check{
			fake{name: "slow", stage: verdict.Mail, delay: 20 * time.Millisecond, res: verdict.Result{Status: verdict.Pass}},
			fake{name: "bad", stage: verdict.Mail, res: verdict.Result{Status: verdict.Fail, Action: verdict.Reject}},
			fake{name: "later", stage: verdict.Data},
		},
		Observe: func(o verdict.Observation) { obs = append(obs, o) },
	}
	s := &verdict.Session{}
	p.Evaluate(context.Background(), s, verdict.Mail)
	p.Evaluate(context.Background(), s, verdict.Connect)
	if len(obs) != 2 {
		t.Fatalf("%d observations, want one per decision", len(obs))
	}
	o := obs[0]
	if o.Stage != verdict.Mail || o.Decision.Action != verdict.Reject || len(o.Checks) != 2 {
		t.Fatalf("observation %+v", o)
	}
	if o.Checks[0].Result.Check != "slow" || o.Checks[0].Elapsed < 20*time.Millisecond || o.Elapsed < o.Checks[0].Elapsed {
		t.Errorf("timing: check %v, whole %v", o.Checks[0].Elapsed, o.Elapsed)
	}
	if o.Checks[1].Result.Status != verdict.Fail || o.Checks[1].Result.Stage != verdict.Mail {
		t.Errorf("second check %+v", o.Checks[1].Result)
	}
	if len(obs[1].Checks) != 0 || obs[1].Stage != verdict.Connect {
		t.Errorf("empty stage observed as %+v", obs[1])
	}
}

// TestScoreReasonsStable: the reasons of a score decision come largest
// first, ties in the order the checks ran.
func TestScoreReasonsStable(t *testing.T) {
	p := &verdict.Policy{Checks: []verdict.Check{
		fake{name: "a", stage: verdict.Mail, res: verdict.Result{Score: 2, Reason: "a"}},
		fake{name: "b", stage: verdict.Mail, res: verdict.Result{Score: 3, Reason: "b"}},
		fake{name: "c", stage: verdict.Mail, res: verdict.Result{Score: 2, Reason: "c"}},
		fake{name: "d", stage: verdict.Mail, res: verdict.Result{Score: -1, Reason: "d"}},
	}, Reject: 5}
	d := p.Evaluate(context.Background(), &verdict.Session{}, verdict.Mail)
	if want := "Refused by policy: b: b; a: a; c: c"; d.Message != want {
		t.Errorf("message %q, want %q", d.Message, want)
	}
}
