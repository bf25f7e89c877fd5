// Package redistest runs a redis-server of a test's own: on a loopback
// port, in a temporary directory, without persistence, stopped when the
// test ends. Without redis-server the test is skipped, or fails when
// MTAGUARD_REQUIRE_TOOLS=1 (as in CI).
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	path string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a redis-server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
			t.Fatal("redis-server not installed (MTAGUARD_REQUIRE_TOOLS=1)")
		}
		t.Skip("redis-server not installed")
	}
	s := &Server{path: path, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	// Another process may take the free port before redis-server binds
	// it; then try another.
	for try := 0; ; try++ {
		s.port = freePort(t)
		if err := s.Restart(); err == nil {
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

// Addr returns the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Restart starts the server (again, after Stop) on its port and waits
// until it answers.
func (s *Server) Restart() error {
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
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
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
			s.Stop()
			return errors.New("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Client returns a client of the server that fails fast when it is down,
// closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:               s.Addr(),
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

// Prefix returns a key prefix no other caller in the process gets, to keep
// tests sharing a server apart.
func Prefix() string {
	return "test" + strconv.FormatInt(prefixes.Add(1), 10) + ":"
}

// Quiet silences go-redis's own log of failed dials, which tests that stop
// the server cause on purpose. Call it from TestMain.
func Quiet() { redis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
