package limit

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtaguard/mtaguard/internal/redistest"
	"github.com/mtaguard/mtaguard/verdict"
)

// The load test: two processes (this test binary, started twice as a
// worker) share one redis-server and enforce one set of limits together.
// MTAGUARD_LIMIT_LOAD_CLIENTS sets the number of clients (default 500 so
// that CI stays quick; the full load is 10000), each sending 10
// events, half through each process.
const (
	loadWorkerEnv  = "MTAGUARD_LIMIT_LOAD_WORKER" // "addr prefix part clients"
	loadClientsEnv = "MTAGUARD_LIMIT_LOAD_CLIENTS"
	loadEvents     = 10
	loadPerClient  = 4   // per-client burst: 4 of each client's 10 events pass
	loadShared     = 700 // one shared counter's burst, across all clients
)

func loadRules() []Rule {
	return []Rule{
		{Name: "per-client", Counter: Messages, Rate: Rate{Events: loadPerClient, Per: time.Hour}},
		{Name: "shared", Counter: Recipients, Subject: RecipientDomain, Rate: Rate{Events: loadShared, Per: 24 * time.Hour}},
	}
}

func loadClient(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// loadWorker is the worker process: it sends its half of the events and
// prints how many each rule let through.
func loadWorker() int {
	f := strings.Fields(os.Getenv(loadWorkerEnv))
	part, _ := strconv.Atoi(f[2])
	clients, _ := strconv.Atoi(f[3])
	c := redis.NewClient(&redis.Options{Addr: f[0], PoolSize: 16})
	defer c.Close()
	ck := New(NewRedis(c, f[1]), &Options{Rules: loadRules()})
	var mu sync.Mutex
	perClient, shared := 0, 0
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := w; i < clients; i += 16 {
				for e := part; e < loadEvents; e += 2 {
					a := ck.Evaluate(ctx, Facts{IP: loadClient(i)}, t0)
					b := ck.Evaluate(ctx, Facts{Rcpt: "x@shared.example"}, t0)
					if a.Err != nil || b.Err != nil {
						fmt.Fprintln(os.Stderr, a.Err, b.Err)
						os.Exit(2)
					}
					mu.Lock()
					if a.Action == verdict.Accept {
						perClient++
					}
					if b.Action == verdict.Accept {
						shared++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d %d\n", perClient, shared)
	return 0
}

func TestLoadTwoProcesses(t *testing.T) {
	clients := 500
	if v := os.Getenv(loadClientsEnv); v != "" {
		clients, _ = strconv.Atoi(v)
	}
	s := redistest.Start(t)
	c := s.Client(t)
	prefix := redistest.Prefix()
	start := time.Now()
	type out struct {
		perClient, shared int
		err               error
	}
	res := make(chan out, 2)
	for part := range 2 {
		go func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d", loadWorkerEnv, s.Addr(), prefix, part, clients))
			b, err := cmd.Output()
			var o out
			if err == nil {
				_, err = fmt.Sscan(string(b), &o.perClient, &o.shared)
			}
			if ee, ok := err.(*exec.ExitError); ok {
				err = fmt.Errorf("%v: %s", err, ee.Stderr)
			}
			o.err = err
			res <- o
		}()
	}
	var perClient, shared int
	for range 2 {
		o := <-res
		if o.err != nil {
			t.Fatal(o.err)
		}
		perClient += o.perClient
		shared += o.shared
	}
	elapsed := time.Since(start)
	// Each client's own limit, enforced across both processes exactly:
	// decisions are atomic in Redis.
	if want := clients * loadPerClient; perClient != want {
		t.Errorf("per-client limit let %d through, want %d", perClient, want)
	}
	// The shared limit, likewise: one burst, not one per process.
	if want := min(loadShared, clients*loadEvents); shared != want {
		t.Errorf("shared limit let %d through, want %d", shared, want)
	}
	// Memory bounded: one key per client and one shared, each with a TTL.
	ctx := context.Background()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n > int64(clients)+1 {
		t.Errorf("%d keys for %d clients", n, clients)
	}
	info, _ := c.Info(ctx, "memory").Result()
	mem := ""
	for _, l := range strings.Split(info, "\n") {
		if strings.HasPrefix(l, "used_memory_human:") {
			mem = strings.TrimSpace(strings.TrimPrefix(l, "used_memory_human:"))
		}
	}
	t.Logf("%d clients x %d events, 2 processes: %v, %.0f decisions/s, %d keys, redis used_memory %s",
		clients, loadEvents, elapsed.Round(time.Millisecond), float64(2*clients*loadEvents)/elapsed.Seconds(), n, mem)
}

// TestMemoryBounded: a flood of distinct clients never grows the memory
// store beyond its bound.
func TestMemoryBounded(t *testing.T) {
	m := NewMemory(1024)
	ck := New(m, &Options{Rules: []Rule{{Counter: Messages, Rate: Rate{Events: 2, Per: time.Hour}}}})
	ctx := context.Background()
	for i := range 10000 {
		for range loadEvents {
			ck.Evaluate(ctx, Facts{IP: loadClient(i)}, t0)
		}
	}
	if n := m.Len(); n > 1024 {
		t.Errorf("%d counters, bound 1024", n)
	}
	// Idle counters are dropped first: after an hour they are all idle, and
	// new clients replace them without loss of live ones.
	later := t0.Add(2 * time.Hour)
	for i := range 500 {
		ck.Evaluate(ctx, Facts{IP: loadClient(20000 + i)}, later)
		ck.Evaluate(ctx, Facts{IP: loadClient(20000 + i)}, later)
	}
	over := 0
	for i := range 500 {
		if r := ck.Evaluate(ctx, Facts{IP: loadClient(20000 + i)}, later); r.Code == 0 {
			over++
		}
	}
	if over > 25 { // a few shards may have had to drop a live counter
		t.Errorf("%d of 500 live counters forgotten", over)
	}
}
