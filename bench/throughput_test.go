package bench

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkThroughput measures whole sessions per second with the
// resolver's cache warm, from every CPU at once (b.RunParallel; run it
// with -cpu 2 for the "2 cores"), for the message signed twice
// (RSA-2048 and Ed25519). The greylist store holds the triplet, so every
// session is accepted.
//
//   - staged: one Policy, Evaluate at each of the five stages;
//   - all-at-once: one Policy, EvaluateAll;
//   - sequential-cached: the pure functions one after another on the same
//     warm caching resolver, without a Policy: the work of the checks
//     themselves, to show what the engine adds;
//   - floor: SHA-256 over the message twice and the two signature
//     verifications, the least any DKIM verifier must do per message.
//
// "sessions/s" is the rate measured over all CPUs; "cpu-us/session" the
// CPU time the process used per session (getrusage: on a machine shared with
// other work, the wall-clock rate understates what the CPUs can do, the CPU
// time does not), "cpu-sessions/s" the rate that CPU time allows on
// GOMAXPROCS CPUs, and "x-floor" the CPU time divided by the floor's,
// measured in the same run.
func BenchmarkThroughput(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 1, 1, 0)
	r := w.resolver(b)
	p := newPolicy(r, w.grey)
	if _, worst := runStaged(ctx, p, w.session(0, 2), nil); worst != verdict.Accept { // warms the cache
		b.Fatal(worst)
	}
	floor := newFloor(b, w.domains[0].msg2)
	floorNs := float64(cpuPerOp(200, func() { floor.run() }))

	// run runs f from every CPU and reports its rates.
	run := func(b *testing.B, f func() bool) {
		b.ReportAllocs()
		cpu0, _ := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !f() {
					b.Error("session not accepted")
					return
				}
			}
		})
		cpu1, ok := cpuTime()
		cpuNs := float64(cpu1-cpu0) / float64(b.N)
		if !ok {
			cpuNs = float64(b.Elapsed()) * float64(runtime.GOMAXPROCS(0)) / float64(b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
		b.ReportMetric(cpuNs/1e3, "cpu-us/session")
		b.ReportMetric(float64(runtime.GOMAXPROCS(0))*1e9/cpuNs, "cpu-sessions/s")
		b.ReportMetric(cpuNs/floorNs, "x-floor")
	}
	b.Run("staged", func(b *testing.B) {
		run(b, func() bool {
			_, worst := runStaged(ctx, p, w.session(0, 2), nil)
			return worst == verdict.Accept
		})
	})
	b.Run("all-at-once", func(b *testing.B) {
		run(b, func() bool { return p.EvaluateAll(ctx, w.session(0, 2)).Action == verdict.Accept })
	})
	b.Run("sequential-cached", func(b *testing.B) {
		run(b, func() bool { return runBaseline(ctx, r, w.grey, w.session(0, 2)).Action == verdict.Accept })
	})
	b.Run("floor", func(b *testing.B) { run(b, floor.run) })
	if s := r.Stats(); s.Queries > uint64(len(sessionQueries)) {
		b.Errorf("%d queries with a warm cache, want %d (the first session's)", s.Queries, len(sessionQueries))
	}
}

// floor is the CPU work no DKIM verifier of the message can avoid: a
// SHA-256 pass over it for each signature (body hash and header hash
// together cover the message once) and the two signature verifications.
type floor struct {
	msg    []byte
	rsaPub *rsa.PublicKey
	edPub  ed25519.PublicKey
	rsaSig []byte
	edSig  []byte
}

func newFloor(tb testing.TB, msg []byte) *floor {
	rk, ek := signingKeys()
	f := &floor{msg: msg, rsaPub: &rk.PublicKey, edPub: ek.Public().(ed25519.PublicKey)}
	h := sha256.Sum256(msg)
	var err error
	if f.rsaSig, err = rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, h[:]); err != nil {
		tb.Fatal(err)
	}
	f.edSig = ed25519.Sign(ek, h[:]) // RFC 8463: Ed25519 over the SHA-256 of the header data
	if !f.run() {
		tb.Fatal("floor: signatures do not verify")
	}
	return f
}

func (f *floor) run() bool {
	h1 := sha256.Sum256(f.msg)
	h2 := sha256.Sum256(f.msg)
	return rsa.VerifyPKCS1v15(f.rsaPub, crypto.SHA256, h1[:], f.rsaSig) == nil &&
		ed25519.Verify(f.edPub, h2[:], f.edSig)
}

// cpuPerOp returns the CPU time of one call of f, over n calls; the wall
// time where CPU time cannot be known.
func cpuPerOp(n int, f func()) time.Duration {
	cpu0, ok := cpuTime()
	start := time.Now()
	for range n {
		f()
	}
	if cpu1, ok1 := cpuTime(); ok && ok1 {
		return (cpu1 - cpu0) / time.Duration(n)
	}
	return time.Since(start) / time.Duration(n)
}
