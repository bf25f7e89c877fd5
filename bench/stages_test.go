package bench

import (
	"context"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkStage measures each stage's Evaluate at L = 0 with the cache
// warm, the steady state of a busy MTA: ns/op, B/op and allocs/op of one
// stage, with the results of the earlier stages already in the session.
// The Data stage is measured with the message signed once and twice;
// "session" is the five stages together and "all-at-once" EvaluateAll, both
// with the message signed twice.
func BenchmarkStage(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 1, 1, 0)
	p := newPolicy(w.resolver(b), w.grey)
	for _, sigs := range []int{1, 2} {
		if _, worst := runStaged(ctx, p, w.session(0, sigs), nil); worst != verdict.Accept { // warms the cache
			b.Fatal(worst)
		}
	}
	// before returns the session of client 0 with the results of the
	// stages before st, and the facts known at st, as in a real dialogue.
	before := func(st verdict.Stage, sigs int) *verdict.Session {
		facts := w.session(0, sigs)
		s := &verdict.Session{IP: facts.IP}
		for e := verdict.Connect; e < st; e++ {
			if e != verdict.Rcpt {
				p.Evaluate(ctx, s, e)
			}
			switch e + 1 {
			case verdict.Helo:
				s.HELO = facts.HELO
			case verdict.Mail:
				s.MailFrom = facts.MailFrom
			case verdict.Data:
				s.Message = facts.Message
			}
		}
		return s
	}
	for _, c := range []struct {
		name  string
		stage verdict.Stage
		sigs  int
	}{
		{"connect", verdict.Connect, 1},
		{"helo", verdict.Helo, 1},
		{"mail", verdict.Mail, 1},
		{"rcpt", verdict.Rcpt, 1},
		{"data-1sig", verdict.Data, 1},
		{"data-2sig", verdict.Data, 2},
	} {
		b.Run(c.name, func(b *testing.B) {
			base := before(c.stage, c.sigs)
			n := len(base.Results)
			b.ReportAllocs()
			for b.Loop() {
				s := *base
				s.Results = base.Results[:n:n] // Evaluate appends to a new array
				if c.stage == verdict.Rcpt {
					s = *s.ForRcpt(rcpt)
				}
				if d := p.Evaluate(ctx, &s, c.stage); d.Action != verdict.Accept {
					b.Fatal(d)
				}
			}
		})
	}
	b.Run("session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, worst := runStaged(ctx, p, w.session(0, 2), nil); worst != verdict.Accept {
				b.Fatal(worst)
			}
		}
	})
	b.Run("all-at-once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := p.EvaluateAll(ctx, w.session(0, 2)); d.Action != verdict.Accept {
				b.Fatal(d)
			}
		}
	})
}
