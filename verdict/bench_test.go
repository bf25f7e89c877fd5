package verdict_test

import (
	"context"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkEvaluate measures the engine's own cost: a policy of eight
// trivial checks at one stage.
func BenchmarkEvaluate(b *testing.B) {
	var checks []verdict.Check
	for i := 0; i < 8; i++ {
		checks = append(checks, fake{name: "c", stage: verdict.Rcpt, res: verdict.Result{Status: verdict.Pass, Score: -0.1}})
	}
	p := &verdict.Policy{Checks: checks, Quarantine: 6, Reject: 15}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s := verdict.Session{Results: make([]verdict.Result, 0, 8)}
		p.Evaluate(ctx, &s, verdict.Rcpt)
	}
}

func BenchmarkAuthenticationResults(b *testing.B) {
	d := verdict.Decision{Results: []verdict.Result{
		{Auth: []authres.Result{&authres.SPFResult{Value: authres.ResultPass, From: "alice@example.org"}}},
		{Auth: []authres.Result{&authres.DKIMResult{Value: authres.ResultPass, Domain: "example.org"}}},
		{Auth: []authres.Result{&authres.DMARCResult{Value: authres.ResultPass, From: "example.org"}}},
	}}
	b.ReportAllocs()
	for b.Loop() {
		d.AuthenticationResults("mx.example.net")
	}
}
