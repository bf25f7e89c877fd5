package acceptance

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/verdict"
)

// loadSessions is the size of TestLoad: MTAGUARD_LOAD_SESSIONS, or 10,000
// (2,000 under -race or -short, to fit CI's time on two cores).
func loadSessions() int {
	def := 10000
	if raceEnabled || testing.Short() {
		def = 2000
	}
	return envInt("MTAGUARD_LOAD_SESSIONS", def)
}

// heapInUse returns the bytes of heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// loadStats is what one round of TestLoad saw.
type loadStats struct {
	elapsed    time.Duration
	peakHeap   uint64
	goroutines int64 // the most seen at once
	timeouts   int64 // checks that reached the stage deadline
	bad        int64 // decisions on good sessions that were not 250
	badText    string
}

// loadRound starts n sessions at once through p and waits for them: even
// ones are the world's good sender (stage by stage, and every fourth
// session with EvaluateAll too), odd ones outsiders without rDNS forging
// example.org, each a new greylist triplet.
func loadRound(p *verdict.Policy, n int, good, forged []byte) loadStats {
	var (
		st       loadStats
		start    = make(chan struct{})
		wg       sync.WaitGroup
		peak     atomic.Uint64
		peakG    atomic.Int64
		bad      atomic.Int64
		timeouts atomic.Int64
		firstBad sync.Once
	)
	// Sample the heap and the goroutines while the sessions run.
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak.Store(max(peak.Load(), m.HeapInuse))
				peakG.Store(max(peakG.Load(), int64(runtime.NumGoroutine())))
			}
		}
	}()

	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var s *verdict.Session
			goodSession := i%2 == 0
			if goodSession {
				s = worldSession(good)
			} else {
				ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 250)})
				s = &verdict.Session{IP: ip, HELO: fmt.Sprintf("host%d.example.com", i),
					MailFrom: fmt.Sprintf("u%d@example.com", i), Rcpt: fmt.Sprintf("r%d@example.net", i), Message: forged}
			}
			ds := stageDecisions(context.Background(), p, s)
			if i%4 == 0 {
				s.Results = nil
				ds = append(ds, p.EvaluateAll(context.Background(), s))
			}
			for _, d := range ds {
				for _, res := range d.Results {
					if res.Err == verdict.ErrTimeout {
						timeouts.Add(1)
					}
				}
				if goodSession && d.Code != 250 {
					bad.Add(1)
					firstBad.Do(func() { st.badText = d.String() + describe(d.Results) })
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	st.elapsed = time.Since(t0)
	close(stopSampling)
	<-sampled
	st.peakHeap, st.goroutines = peak.Load(), peakG.Load()
	st.timeouts, st.bad = timeouts.Load(), bad.Load()
	return st
}

// TestLoad runs loadSessions sessions at once through one Policy with
// every check (resolvertest in memory with 1 ms latency, a Memory greylist
// store bounded to 1000), twice. Under -race it shows that the checks and
// the engine share nothing unsynchronised. Good sessions are accepted at
// every stage whatever the load; afterwards no goroutine is left
// (prefetches and abandoned checks included), and the second round leaves
// the heap where the first did.
//
// The full size under the race detector (about 40 s a round on two
// cores):
//
//	MTAGUARD_LOAD_SESSIONS=10000 go test -race -run TestLoad -v ./internal/acceptance/
func TestLoad(t *testing.T) {
	// Not parallel: the goroutines and the heap must be this test's.
	n := loadSessions()
	ignore := goleak.IgnoreCurrent()
	before := heapInUse()

	r := newWorld(t)
	r.SetLatency(time.Millisecond)
	c := &clock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	store := greylist.NewMemorySize(1000)
	seedGreylist(t, store, c, clientIP)
	p := fullPolicy(r, store, c, 20*time.Second)
	good := signedMessage(t)
	forged := message("alice@example.org", "Buy now.\r\n")

	var (
		after      [2]uint64
		goroutines [2]int64
	)
	for round := range after {
		st := loadRound(p, n, good, forged)
		goroutines[round] = st.goroutines
		if st.bad > 0 {
			t.Errorf("round %d: %d decisions on good sessions were not 250; first: %s", round+1, st.bad, st.badText)
		}
		// Nothing left running: prefetches end with their lookups, and
		// every check goroutine has delivered its result.
		goleak.VerifyNone(t, ignore)
		after[round] = heapInUse()
		// On a loaded machine (10,000 sessions under -race on two
		// cores) some checks reach the deadline: that is the engine
		// degrading as it should (TempError, and the good sessions still
		// accepted, checked above), not a failure.
		t.Logf("round %d: %d sessions in %v (%v a session), %d goroutines at most, %d checks reached the deadline; heap in use %d MiB at most, %d MiB after",
			round+1, n, st.elapsed.Round(time.Millisecond), (st.elapsed / time.Duration(n)).Round(time.Microsecond),
			st.goroutines, st.timeouts, st.peakHeap>>20, after[round]>>20)
		// A session costs some kilobytes while it runs (more under the
		// race detector); the bound is generous.
		if limit := uint64(n)*200<<10 + before; st.peakHeap > limit {
			t.Errorf("peak heap %d MiB for %d sessions, more than %d MiB", st.peakHeap>>20, n, limit>>20)
		}
	}
	t.Logf("%d DNS queries; greylist store %d entries (bound 1000); heap in use %d MiB before",
		r.TotalQueries(), store.Len(), before>>20)
	if store.Len() > 1000 {
		t.Errorf("greylist store holds %d entries, bound 1000", store.Len())
	}
	// The runtime keeps the descriptors of the goroutines that ran at once
	// (some hundred bytes each) for reuse, so the first round may leave
	// some MiB; the second reuses them, adding only for goroutines beyond
	// the first round's peak (sampled, so a few hundred bytes a session
	// are allowed for the samples missing the true peak). More is a leak.
	allow := uint64(4<<20 + int64(n)*256 + max(0, goroutines[1]-goroutines[0])*1024)
	if after[1] > after[0]+allow {
		t.Errorf("heap in use %d MiB after the first round, %d MiB after the second (allowed %d MiB more): sessions leave memory behind",
			after[0]>>20, after[1]>>20, allow>>20)
	}
}
