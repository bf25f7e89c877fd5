package acceptance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mtaguard/mtaguard/dkim"
	"github.com/mtaguard/mtaguard/dmarc"
	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/relay"
	"github.com/mtaguard/mtaguard/spf"
	"github.com/mtaguard/mtaguard/verdict"
)

// measure runs f and returns how long it took, how many bytes it
// allocated, and the most live heap it held beyond what was live before
// (sampled from the garbage collector's live-heap metric, so garbage that
// f leaves for the collector does not count). Run it where no other test
// runs: the counts are the process's.
func measure(f func()) (el time.Duration, alloc, peakLive uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	// Collect often, so that the live heap is known at a fine grain.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	base := live()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		p := base
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				peak <- max(p, live())
				return
			case <-tick.C:
				p = max(p, live())
			}
		}
	}()
	start := time.Now()
	f()
	el = time.Since(start)
	close(done)
	p := <-peak
	runtime.ReadMemStats(&m1)
	return el, m1.TotalAlloc - m0.TotalAlloc, p - base
}

// bigBody returns about size bytes of body text in 78-byte lines.
func bigBody(size int) string {
	line := strings.Repeat("abcdefghij", 7) + "klmnopqr\r\n"
	return strings.Repeat(line, size/len(line))
}

// withHeader returns msg with the header fields given added on top.
func withHeader(msg []byte, fields string) []byte {
	return append([]byte(fields), msg...)
}

// messageCase is a hostile message and what each part of the Data stage
// must make of it.
type messageCase struct {
	name string
	msg  func(t testing.TB) []byte
	dkim verdict.Status
	// dmarc is the DMARC status with SPF passing for example.org.
	dmarc verdict.Status
	// data is the code of the whole Data stage.
	data int
	// live bounds the live heap that dkim.Check, dmarc.From and
	// relay.Border may hold beyond the message (twice that for all the
	// stages of a Policy).
	live uint64
}

// messageMiB is the size of the big messages: MTAGUARD_MESSAGE_MIB, or 50
// (5 under -race, where hashing 50 MiB ten times takes half a minute).
// The full size under the race detector:
//
//	MTAGUARD_MESSAGE_MIB=50 go test -race -run TestMessages -v ./internal/acceptance/
func messageMiB() int {
	def := 50
	if raceEnabled {
		def = 5
	}
	return envInt("MTAGUARD_MESSAGE_MIB", def)
}

// messageTimeout bounds each part of TestMessages: ten verifications of a
// 50 MiB body take about 1.5 s, and ten times as long under the race
// detector, which instruments go-msgauth's canonicalization.
func messageTimeout() time.Duration {
	d := 60 * time.Second
	if raceEnabled {
		d *= time.Duration(max(1, messageMiB()/5))
	}
	return d
}

func messageCases() []messageCase {
	const mib = 1 << 20
	big := messageMiB() * mib
	return []messageCase{
		{"big-body", func(t testing.TB) []byte {
			return sign(t, message("alice@example.org", bigBody(big)), "example.org")
		}, verdict.Pass, verdict.Pass, 250, 8 * mib},
		// A header line of 1 MiB makes the header section larger than
		// dkim's and dmarc's 1 MiB bound: refused to read, with a reason
		// that says so; not a crash, not a guess. dmarc refuses the
		// message (550 5.7.26): a From field past the bound would go
		// unseen, so passing it would let a forged author through.
		{"1MiB-header-line", func(t testing.TB) []byte {
			return withHeader(signedMessage(t), "X-Long: "+strings.Repeat("x", mib)+"\r\n")
		}, verdict.PermError, verdict.PermError, 550, 8 * mib},
		// Just under the bound: read and verified.
		{"900KiB-header-line", func(t testing.TB) []byte {
			return withHeader(signedMessage(t), "X-Long: "+strings.Repeat("x", 900<<10)+"\r\n")
		}, verdict.Pass, verdict.Pass, 250, 8 * mib},
		// More fields than the 1000 the shared header reader reads: dkim
		// refuses to read, like the 1 MiB line above.
		{"10000-header-fields", func(t testing.TB) []byte {
			var b strings.Builder
			for i := 0; i < 10000; i++ {
				fmt.Fprintf(&b, "X-Field-%d: value %d\r\n", i, i)
			}
			return withHeader(signedMessage(t), b.String())
			// More fields than internal/header reads (MaxFields): dkim
			// cannot see the signed fields and dmarc refuses it, as a
			// header section over the byte bound.
		}, verdict.PermError, verdict.PermError, 550, 8 * mib},
		// 100 signatures of example.org: the first DefaultMaxSignatures
		// are verified, the rest counted.
		{"100-signatures", func(t testing.TB) []byte {
			ids := make([]string, 100)
			for i := range ids {
				ids[i] = fmt.Sprintf("u%d@example.org", i)
			}
			return sign(t, message("alice@example.org", "Hello.\r\n"), "example.org", ids...)
		}, verdict.Pass, verdict.Pass, 250, 8 * mib},
		// 100 signatures from 100 domains without keys: at most 10
		// lookups, PermError.
		{"100-signatures-no-key", func(t testing.TB) []byte {
			msg := message("alice@example.org", "Hello.\r\n")
			for i := 0; i < 100; i++ {
				msg = sign(t, msg, fmt.Sprintf("d%d.example.com", i))
			}
			return msg
		}, verdict.PermError, verdict.Pass, 250, 8 * mib},
		// All of it at once. Signing 50 MiB a hundred times takes long,
		// so the signature is signed once and repeated: the verifier
		// still makes its ten passes over the body.
		{"big-body-100-signatures", func(t testing.TB) []byte {
			msg := sign(t, message("alice@example.org", bigBody(big)), "example.org")
			field := firstField(msg)
			return withHeader(msg, strings.Repeat(field, 99))
		}, verdict.Pass, verdict.Pass, 250, 8 * mib},
	}
}

// TestMessages runs hostile messages through dkim.Check, dmarc.From and
// dmarc.Check, and the whole Data stage of a Policy: every one answers
// clearly (the status each RFC gives, a one-line reason), within a time
// bound, allocating a bounded amount beyond the message itself, and the
// Authentication-Results field stays bounded.
func TestMessages(t *testing.T) {
	// The counts must be this test's alone. Not running in parallel is not
	// enough: a test before it that ran 100,000 goroutines leaves the
	// runtime's goroutine descriptors behind (tens of MiB that every
	// collection marks again), and the longer marking counts more of the
	// garbage made meanwhile as live. So the test runs itself again in a
	// process of its own, and measures there.
	if os.Getenv("MTAGUARD_MESSAGES_CHILD") == "" {
		args := []string{"-test.run=^TestMessages$", "-test.v", "-test.count=1"}
		if testing.Short() {
			args = append(args, "-test.short")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "MTAGUARD_MESSAGES_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestMessages")) {
			t.Fatalf("TestMessages in its own process: %v\n%s", err, out)
		}
		if testing.Verbose() {
			t.Logf("in its own process:\n%s", out)
		}
		return
	}
	for _, mc := range messageCases() {
		t.Run(mc.name, func(t *testing.T) {
			msg := mc.msg(t)
			r := newWorld(t)
			limit := messageTimeout()
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()

			// Allocation is bounded loosely (go-msgauth's body
			// canonicalization makes about two bytes of garbage per body
			// byte and verified signature); what is held at once is
			// bounded tightly.
			allocBound := uint64(dkim.DefaultMaxSignatures+1)*3*uint64(len(msg)) + 64<<20
			var dres verdict.Result
			el, alloc, live := measure(func() { dres = dkim.Check(ctx, r, bytes.NewReader(msg)) })
			t.Logf("dkim: %v in %v, %d KiB allocated, %d KiB live at most, for %d KiB: %s",
				dres.Status, el.Round(time.Millisecond), alloc>>10, live>>10, len(msg)>>10, dres.Reason)
			if dres.Status != mc.dkim {
				t.Errorf("dkim: %v, want %v: %s (%v)", dres.Status, mc.dkim, dres.Reason, dres.Err)
			}
			if live > mc.live || alloc > allocBound {
				t.Errorf("dkim held %d KiB (bound %d KiB) and allocated %d MiB (bound %d MiB)", live>>10, mc.live>>10, alloc>>20, allocBound>>20)
			}
			if len(dres.Auth) > dkim.DefaultMaxSignatures {
				t.Errorf("dkim: %d Auth entries, more than the %d verified", len(dres.Auth), dkim.DefaultMaxSignatures)
			}
			if q := r.TotalQueries(); q > dkim.DefaultMaxSignatures {
				t.Errorf("dkim: %d key lookups, more than %d", q, dkim.DefaultMaxSignatures)
			}
			if dres.Reason == "" || dres.Reason != verdict.Printable(dres.Reason) {
				t.Errorf("dkim reason is not one clean line: %q", dres.Reason)
			}

			var from string
			var ferr error
			el, alloc, live = measure(func() { from, ferr = dmarc.From(bytes.NewReader(msg)) })
			t.Logf("dmarc.From: %q %v in %v, %d KiB allocated, %d KiB live at most", from, ferr, el.Round(time.Millisecond), alloc>>10, live>>10)
			if live > mc.live || alloc > 4*mc.live {
				t.Errorf("dmarc.From held %d KiB and allocated %d KiB, bound %d KiB", live>>10, alloc>>10, mc.live>>10)
			}
			spfPass := verdict.Result{Check: spf.Name, Status: verdict.Pass, Auth: spfAuth("pass", mailFrom)}
			var mres verdict.Result
			if ferr == nil {
				mres = dmarc.Check(ctx, r, from, spfPass, dres)
			} else {
				// What the Checker does with a message without one From
				// domain.
				p := &verdict.Policy{Checks: []verdict.Check{dmarc.New(r, nil)}}
				s := worldSession(msg)
				s.Results = []verdict.Result{spfPass, dres}
				mres, _ = verdictResult(p.Evaluate(ctx, s, verdict.Data), dmarc.Name)
			}
			if mres.Status != mc.dmarc {
				t.Errorf("dmarc: %v, want %v: %s (%v)", mres.Status, mc.dmarc, mres.Reason, mres.Err)
			}

			// The whole Data stage, after the earlier ones.
			c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
			store := greylist.NewMemory()
			seedGreylist(t, store, c, clientIP)
			ctx, cancel = context.WithTimeout(context.Background(), limit)
			defer cancel()
			p := fullPolicy(r, store, c, limit)
			s := worldSession(msg)
			var ds []verdict.Decision
			el, alloc, live = measure(func() { ds = stageDecisions(ctx, p, s) })
			d := ds[len(ds)-1]
			t.Logf("policy: %s in %v, %d KiB allocated, %d KiB live at most", d, el.Round(time.Millisecond), alloc>>10, live>>10)
			if d.Code != mc.data {
				t.Errorf("Data stage: %s, want %d:%s", d, mc.data, describe(d.Results))
			}
			if live > 2*mc.live || alloc > 2*allocBound {
				t.Errorf("the stages held %d KiB (bound %d KiB) and allocated %d MiB (bound %d MiB)", live>>10, 2*mc.live>>10, alloc>>20, 2*allocBound>>20)
			}
			if el > limit {
				t.Errorf("the stages took %v", el)
			}
			ar := d.AuthenticationResults("mx.example.net")
			if len(ar) > 4096 {
				t.Errorf("Authentication-Results is %d bytes long", len(ar))
			}
			if _, _, err := authres.Parse(ar); err != nil {
				t.Errorf("Authentication-Results does not parse: %v\n%s", err, ar)
			}

			// relay.Border reads the header only.
			el, alloc, live = measure(func() { _, _ = relay.Border(bytes.NewReader(msg), trusted) })
			if live > mc.live || alloc > 4*mc.live {
				t.Errorf("relay.Border held %d KiB and allocated %d KiB, bound %d KiB (in %v)", live>>10, alloc>>10, mc.live>>10, el)
			}
		})
	}
}

// firstField returns the first header field of msg, with its folded
// lines and CRLF.
func firstField(msg []byte) string {
	end := 0
	for {
		i := bytes.Index(msg[end:], []byte("\r\n"))
		end += i + 2
		if end >= len(msg) || (msg[end] != ' ' && msg[end] != '\t') {
			return string(msg[:end])
		}
	}
}

// verdictResult returns the named result of a decision.
func verdictResult(d verdict.Decision, check string) (verdict.Result, bool) {
	for i := len(d.Results) - 1; i >= 0; i-- {
		if d.Results[i].Check == check {
			return d.Results[i], true
		}
	}
	return verdict.Result{}, false
}

// TestBorderManyFields gives relay.Border 10,000 Received fields of
// trusted hops: it reads a bounded number and gives up with an error
// (the caller keeps the session's address), quickly.
func TestBorderManyFields(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "Received: from relay%d.example.net (relay%d.example.net [10.0.%d.%d])\r\n\tby mx.example.net with ESMTP id %d; Mon, 2 Mar 2026 10:00:00 +0000\r\n",
			i, i, i/256%256, i%256, i)
	}
	b.WriteString("Received: from mail.example.org (mail.example.org [192.0.2.10]) by mx.example.net; Mon, 2 Mar 2026 10:00:00 +0000\r\n")
	msg := withHeader(message("alice@example.org", "Hi.\r\n"), b.String())
	start := time.Now()
	hop, err := relay.Border(bytes.NewReader(msg), trusted)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	if err == nil {
		t.Errorf("Border read past 10,000 fields to %v", hop)
	}
}
