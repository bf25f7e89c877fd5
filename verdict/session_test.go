package verdict_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

func TestResultsStampedWithStage(t *testing.T) {
	p := &verdict.Policy{Checks: []verdict.Check{
		fake{name: "c", stage: verdict.Connect, res: verdict.Result{Stage: verdict.Data}}, // a check cannot lie about it
		fake{name: "m", stage: verdict.Mail},
	}}
	s := &verdict.Session{}
	ctx := context.Background()
	p.Evaluate(ctx, s, verdict.Connect)
	p.Evaluate(ctx, s, verdict.Mail)
	if len(s.Results) != 2 || s.Results[0].Stage != verdict.Connect || s.Results[1].Stage != verdict.Mail {
		t.Fatalf("results %+v", s.Results)
	}
	all := &verdict.Session{}
	p.EvaluateAll(ctx, all)
	if len(all.Results) != 2 || all.Results[0].Stage != verdict.Connect || all.Results[1].Stage != verdict.Mail {
		t.Errorf("EvaluateAll results %+v", all.Results)
	}
}

// TestResetAfterRefusedMail: a MAIL refused with a temporary error must not
// weigh on the next MAIL of the same connection.
func TestResetAfterRefusedMail(t *testing.T) {
	spfLike := check(verdict.Mail, func(s *verdict.Session) verdict.Result {
		if s.MailFrom == "bad@outage.example" {
			return verdict.Result{Status: verdict.TempError, Action: verdict.TempFail, Code: 451, Enhanced: "4.4.3"}
		}
		return verdict.Result{Status: verdict.Pass}
	})
	p := &verdict.Policy{Checks: []verdict.Check{fake{name: "conn", stage: verdict.Connect, res: verdict.Result{Score: 1}}, spfLike}}
	ctx := context.Background()
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.1"), HELO: "mail.example.org"}
	p.Evaluate(ctx, s, verdict.Connect)
	s.MailFrom, s.SMTPUTF8 = "bad@outage.example", true
	if d := p.Evaluate(ctx, s, verdict.Mail); d.Action != verdict.TempFail {
		t.Fatalf("first MAIL: %v", d)
	}
	s.Reset(verdict.Mail)
	if s.MailFrom != "" || s.SMTPUTF8 || s.HELO != "mail.example.org" || len(s.Results) != 1 {
		t.Fatalf("after Reset(Mail): %+v", s)
	}
	s.MailFrom = "alice@example.org"
	if d := p.Evaluate(ctx, s, verdict.Mail); d.Action != verdict.Accept {
		t.Errorf("second MAIL after a refused one: %v", d)
	}
	s.Message, s.Rcpts = []byte("x"), []string{"a@example.net"}
	s.Reset(verdict.Data)
	if s.Message != nil || s.Rcpts == nil || s.MailFrom == "" {
		t.Errorf("Reset(Data) forgot too much or too little: %+v", s)
	}
	s.Reset(verdict.Helo)
	if s.HELO != "" || len(s.Results) != 1 || s.Results[0].Check != "conn" {
		t.Errorf("Reset(Helo): %+v", s)
	}
	s.Reset(verdict.Connect)
	if len(s.Results) != 0 {
		t.Errorf("Reset(Connect) kept %v", s.Results)
	}
}

// TestResetDoesNotOverwrite: results kept by Reset are clipped, so that the
// next stage's results never land where an abandoned check may be reading.
func TestResetDoesNotOverwrite(t *testing.T) {
	s := &verdict.Session{Results: []verdict.Result{
		{Check: "a", Stage: verdict.Connect}, {Check: "b", Stage: verdict.Mail}, {Check: "c", Stage: verdict.Connect},
	}}
	old := s.Results
	s.Reset(verdict.Mail)
	if len(s.Results) != 2 || s.Results[0].Check != "a" || s.Results[1].Check != "c" {
		t.Fatalf("kept %v", s.Results)
	}
	s.Results = append(s.Results, verdict.Result{Check: "new"})
	if old[1].Check != "b" || old[2].Check != "c" {
		t.Errorf("Reset overwrote the old results: %v", old)
	}

	s = &verdict.Session{Results: make([]verdict.Result, 2, 8)}
	s.Results[1].Stage = verdict.Mail
	old = s.Results[:2]
	s.Reset(verdict.Mail)
	s.Results = append(s.Results, verdict.Result{Check: "new"})
	if old[1].Check == "new" {
		t.Errorf("append after Reset overwrote an old result")
	}
}

func TestSenderDomain(t *testing.T) {
	for _, c := range []struct{ from, want string }{
		{"alice@Example.org", "example.org"},
		{"<alice@example.org>", "example.org"},
		{"<alice@example.org.>", "example.org"},
		{"<@relay.example:alice@example.org>", "example.org"},
		{"", ""}, {"<>", ""}, {"postmaster", ""}, {"alice@", ""}, {"alice@[192.0.2.1]", ""},
	} {
		s := &verdict.Session{MailFrom: c.from}
		if got := s.SenderDomain(); got != c.want {
			t.Errorf("SenderDomain(%q) = %q, want %q", c.from, got, c.want)
		}
	}
}

func TestTrustedNets(t *testing.T) {
	var saw []bool
	seen := check(verdict.Connect, func(s *verdict.Session) verdict.Result {
		saw = append(saw, s.Trusted)
		return verdict.Result{}
	})
	p := &verdict.Policy{Checks: []verdict.Check{seen}, TrustedNets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, ip := range []string{"10.1.2.3", "::ffff:10.1.2.3", "192.0.2.1"} {
		s := &verdict.Session{IP: netip.MustParseAddr(ip)}
		p.Evaluate(context.Background(), s, verdict.Connect)
	}
	if len(saw) != 3 || !saw[0] || !saw[1] || saw[2] {
		t.Errorf("checks saw Trusted = %v, want [true true false]", saw)
	}
	// Without TrustedNets the server's own fact stands.
	s := &verdict.Session{IP: netip.MustParseAddr("192.0.2.1"), Trusted: true}
	(&verdict.Policy{}).Evaluate(context.Background(), s, verdict.Connect)
	if !s.Trusted {
		t.Errorf("Evaluate cleared Trusted with no TrustedNets")
	}
}

// fnCheck is a check deciding with a function.
type fnCheck struct {
	stage verdict.Stage
	fn    func(*verdict.Session) verdict.Result
}

func (c fnCheck) Name() string         { return "fn" }
func (c fnCheck) Stage() verdict.Stage { return c.stage }
func (c fnCheck) Check(_ context.Context, s *verdict.Session) verdict.Result {
	return c.fn(s)
}

func check(stage verdict.Stage, fn func(*verdict.Session) verdict.Result) verdict.Check {
	return fnCheck{stage, fn}
}
