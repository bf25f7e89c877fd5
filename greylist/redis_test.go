package greylist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtaguard/mtaguard/verdict"
)

// TestMain silences go-redis's own log of failed dials, which the
// restart test causes on purpose.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// redisServer is a redis-server of the test's own, on a loopback port, in
// a temporary directory, without persistence.
type redisServer struct {
	t    testing.TB
	path string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts a redis-server for the test and stops it at the end.
// Without redis-server the test is skipped, or fails when
// MTAGUARD_REQUIRE_TOOLS=1 (as in CI).
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
			t.Fatal("redis-server not installed (MTAGUARD_REQUIRE_TOOLS=1)")
		}
		t.Skip("redis-server not installed")
	}
	s := &redisServer{t: t, path: path, dir: t.TempDir()}
	t.Cleanup(s.stop)
	// Another process may take the free port before redis-server binds
	// it; then try another.
	for try := 0; ; try++ {
		s.port = freePort(t)
		if err := s.start(); err == nil {
			return s
		} else if try == 2 {
			t.Fatal(err)
		}
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs redis-server on s.port and waits until it answers.
func (s *redisServer) start() error {
	cmd := exec.Command(s.path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	cmd.Dir = s.dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond)
		if err == nil {
			fmt.Fprint(c, "PING\r\n")
			buf := make([]byte, 7)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return errors.New("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server and waits for it to exit.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// client returns a client of the server that fails fast when it is down.
func (s *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:               s.addr(),
		MaxRetries:         -1,
		DialerRetries:      1,
		DialerRetryTimeout: 10 * time.Millisecond,
		DialTimeout:        500 * time.Millisecond,
		ReadTimeout:        2 * time.Second,
		WriteTimeout:       2 * time.Second,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

var prefixes atomic.Int64

// uniquePrefix keeps the tests sharing a server apart.
func uniquePrefix() string {
	return "test" + strconv.FormatInt(prefixes.Add(1), 10) + ":"
}

func TestRedisRules(t *testing.T) {
	s := startRedis(t)
	c := s.client(t)
	testRules(t, func(*testing.T) Store { return NewRedis(c, uniquePrefix()) })
}

// TestRedisEngines: two engines on two connections see one history.
func TestRedisEngines(t *testing.T) {
	s := startRedis(t)
	prefix := uniquePrefix()
	a, b := NewRedis(s.client(t), prefix), NewRedis(s.client(t), prefix)
	testConcurrent(t, []Store{a, b})

	// One engine sees the first attempt, the other the retry.
	o := &Options{AutoAllow: -1}
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.9"), From: snd, Rcpt: rcp}
	if r := Check(context.Background(), a, tr, t0, o); r.Action != verdict.TempFail {
		t.Errorf("engine a, first: %+v", r)
	}
	if r := Check(context.Background(), b, tr, t0.Add(time.Minute), o); r.Action != verdict.TempFail {
		t.Errorf("engine b, early: %+v", r)
	}
	if r := Check(context.Background(), b, tr, t0.Add(6*time.Minute), o); r.Reason != "passed greylisting after 360s" {
		t.Errorf("engine b, retry: %+v", r)
	}
	if r := Check(context.Background(), a, tr, t0.Add(7*time.Minute), o); r.Reason != "known triplet" {
		t.Errorf("engine a, known: %+v", r)
	}
}

// TestRedisRestart: while the server is down checks fail open (or closed,
// by option); once it is back they work again, EVALSHA falling back to EVAL
// for the script cache the restart emptied.
func TestRedisRestart(t *testing.T) {
	s := startRedis(t)
	st := NewRedis(s.client(t), uniquePrefix())
	ctx := context.Background()
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.9"), From: snd, Rcpt: rcp}
	closed := &Options{Defer: true}

	if r := Check(ctx, st, tr, t0, nil); r.Action != verdict.TempFail || r.Err != nil {
		t.Fatalf("before: %+v", r)
	}
	s.stop()
	if r := Check(ctx, st, tr, t0.Add(10*time.Minute), nil); r.Status != verdict.TempError || r.Action != verdict.Accept || r.Err == nil {
		t.Errorf("down, fail open: %+v", r)
	}
	if r := Check(ctx, st, tr, t0.Add(10*time.Minute), closed); r.Status != verdict.TempError || r.Action != verdict.TempFail || r.Code != 451 || r.Enhanced != "4.3.0" {
		t.Errorf("down, fail closed: %+v", r)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	// The server kept nothing (no persistence): the triplet is new again.
	rec := &recorder{Store: st}
	if r := Check(ctx, rec, tr, t0.Add(11*time.Minute), nil); r.Err != nil || rec.last.State != Deferred {
		t.Fatalf("after restart: %+v %v", r, rec.last.State)
	}
	if r := Check(ctx, rec, tr, t0.Add(20*time.Minute), closed); r.Err != nil || rec.last.State != Passed {
		t.Errorf("after restart, retry: %+v %v", r, rec.last.State)
	}
}

// TestRedisKeys: keys share a Cluster hash tag, hold no address, and their
// TTLs are the record lives the Options give, not wall-clock arithmetic.
func TestRedisKeys(t *testing.T) {
	s := startRedis(t)
	c := s.client(t)
	st := NewRedis(c, uniquePrefix())
	ctx := context.Background()
	o := &Options{Delay: time.Minute, RetryWindow: 3 * time.Hour, Lifetime: 7 * day, AutoAllow: 2}
	tr := Triplet{IP: netip.MustParseAddr("203.0.113.9"), From: "Alice@Example.com", Rcpt: rcp}
	k := makeKey(tr.IP, tr.From, tr.Rcpt, 24, 64)
	tk, nk := st.keys(k)
	if tag := tk[:strings.IndexByte(tk, '}')+1]; !strings.HasPrefix(nk, tag) || !strings.Contains(tag, "{") {
		t.Errorf("keys %q, %q do not share a hash tag", tk, nk)
	}
	if strings.Contains(tk+nk, "203.0.113") || strings.Contains(strings.ToLower(tk), "alice") {
		t.Errorf("keys %q, %q hold the addresses", tk, nk)
	}

	ttl := func(key string) time.Duration {
		d, err := c.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	near := func(got, want time.Duration) bool { return got <= want && got > want-5*time.Second }

	// Times far from the wall clock: the TTLs are still the Options'.
	Check(ctx, st, tr, t0, o)
	if got := ttl(tk); !near(got, 3*time.Hour) {
		t.Errorf("pending TTL %v", got)
	}
	if got := ttl(nk); got != -2*time.Nanosecond && got >= 0 {
		t.Errorf("network record before any pass: TTL %v", got)
	}
	Check(ctx, st, tr, t0.Add(2*time.Minute), o)
	if got := ttl(tk); !near(got, 7*day) {
		t.Errorf("passed TTL %v", got)
	}
	if got := ttl(nk); !near(got, 7*day) {
		t.Errorf("network TTL %v", got)
	}
}

// countHook counts the commands a client sends: each is a round trip.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestRedisRoundTrips: one round trip a check, once the script is cached.
func TestRedisRoundTrips(t *testing.T) {
	s := startRedis(t)
	c := s.client(t)
	h := &countHook{}
	c.AddHook(h)
	st := NewRedis(c, uniquePrefix())
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.9")
	Check(ctx, st, Triplet{IP: ip, From: "warm@example.com", Rcpt: rcp}, t0, nil)
	h.n.Store(0)
	const n = 50
	for i := range n {
		Check(ctx, st, Triplet{IP: ip, From: fmt.Sprintf("u%d@example.com", i%7), Rcpt: rcp}, t0.Add(time.Duration(i)*time.Minute), nil)
	}
	if got := h.n.Load(); got != n {
		t.Errorf("%d round trips for %d checks", got, n)
	}
}

func BenchmarkRedisCheck(b *testing.B) {
	s := startRedis(b)
	c := s.client(b)
	h := &countHook{}
	c.AddHook(h)
	st := NewRedis(c, uniquePrefix())
	ctx := context.Background()
	trs := triplets(1024)
	Check(ctx, st, trs[0], t0, nil)
	h.n.Store(0)
	i := 0
	for b.Loop() {
		Check(ctx, st, trs[i%len(trs)], t0.Add(time.Duration(i)*time.Second), nil)
		i++
	}
	b.ReportMetric(float64(h.n.Load())/float64(i), "roundtrips/op")
}
