package acceptance

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtaguard/mtaguard/greylist"
	"github.com/mtaguard/mtaguard/internal/redistest"
	"github.com/mtaguard/mtaguard/verdict"
)

// TestGreylistRedisOutage runs greylisting in Redis through a Policy while
// the server is killed and started again: during the outage every RCPT is
// answered within the deadline, accepted (fail open, the default) or
// deferred with 451 4.3.0 (fail closed), never refused with a 5xx; after
// the restart the same checks, with the same client, work again by
// themselves. Sessions run throughout, so the kill hits queries in flight.
func TestGreylistRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	redistest.Quiet()
	client := redis.NewClient(&redis.Options{
		Addr:         srv.Addr(),
		DialTimeout:  100 * time.Millisecond,
		ReadTimeout:  100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond,
		PoolTimeout:  100 * time.Millisecond,
		MaxRetries:   -1,
	})
	defer client.Close()
	store := greylist.NewRedis(client, "")
	const stageDeadline = time.Second
	policies := map[string]*verdict.Policy{
		"open":   {Checks: []verdict.Check{greylist.New(store, nil)}, Timeout: stageDeadline},
		"closed": {Checks: []verdict.Check{greylist.New(store, &greylist.Options{Defer: true})}, Timeout: stageDeadline},
	}

	var seq atomic.Int64
	// rcpt evaluates a new triplet's RCPT with the named policy.
	rcpt := func(mode string) (verdict.Decision, verdict.Result, time.Duration) {
		n := seq.Add(1)
		s := &verdict.Session{IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}), HELO: "client.example.com",
			MailFrom: fmt.Sprintf("s%d@example.com", n), Rcpt: rcptTo}
		start := time.Now()
		d := policies[mode].Evaluate(context.Background(), s.ForRcpt(s.Rcpt), verdict.Rcpt)
		el := time.Since(start)
		res, _ := verdictResult(d, greylist.Name)
		return d, res, el
	}
	// working: the store answers, so a new triplet is greylisted.
	working := func(d verdict.Decision, res verdict.Result) bool {
		return res.Err == nil && d.Code == 451 && d.Enhanced == "4.7.1"
	}

	// Background sessions throughout: never a 5xx, never past the
	// deadline.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bgCount, bgBad atomic.Int64
	var bgFirst sync.Once
	var bgText string
	for _, mode := range []string{"open", "closed"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, res, el := rcpt(mode)
				bgCount.Add(1)
				if d.Code >= 500 || el > stageDeadline+slack {
					bgBad.Add(1)
					bgFirst.Do(func() { bgText = fmt.Sprintf("%s: %s in %v (%v)", mode, d, el, res.Err) })
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
		if bgBad.Load() > 0 {
			t.Errorf("%d of %d background sessions refused or late; first: %s", bgBad.Load(), bgCount.Load(), bgText)
		}
		t.Logf("%d background sessions", bgCount.Load())
	}()

	for _, mode := range []string{"open", "closed"} {
		if d, res, _ := rcpt(mode); !working(d, res) {
			t.Fatalf("%s, before the outage: %s (%v)", mode, d, res.Err)
		}
	}
	time.Sleep(100 * time.Millisecond)

	srv.Stop()
	for i := 0; i < 5; i++ {
		for _, mode := range []string{"open", "closed"} {
			d, res, el := rcpt(mode)
			if el > stageDeadline+slack {
				t.Errorf("%s, Redis down: %v, beyond the deadline", mode, el)
			}
			if res.Status != verdict.TempError || res.Err == nil {
				t.Errorf("%s, Redis down: greylist %v (%v), want temperror with the error", mode, res.Status, res.Err)
			}
			want := 250
			if mode == "closed" {
				want = 451
			}
			if d.Code != want || mode == "closed" && d.Enhanced != "4.3.0" {
				t.Errorf("%s, Redis down: %s, want %d", mode, d, want)
			}
		}
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"open", "closed"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			d, res, _ := rcpt(mode)
			if working(d, res) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: not recovered 5 s after Redis came back: %s (%v)", mode, d, res.Err)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
