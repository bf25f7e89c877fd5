// Package daemontest starts the scanner daemons (clamd, rspamd, spamd) for
// the tests of the scan packages: on loopback, in a temporary directory,
// stopped at the end. A daemon that is not installed skips the test, or
// fails it when MTAGUARD_REQUIRE_TOOLS=1 (as in CI).
package daemontest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TB is testing.TB.
type TB = testing.TB

// Required reports whether missing tools fail the tests instead of
// skipping them.
func Required() bool { return os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" }

// Look returns the path of the named program, or skips (or fails) t.
func Look(t TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		// Debian puts daemons in /usr/sbin, often not in a user's PATH.
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		if Required() {
			t.Fatalf("%s not installed (MTAGUARD_REQUIRE_TOOLS=1)", name)
		}
		t.Skip(name + " not installed")
	}
	return path
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Process is a daemon started by Start.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	once sync.Once
}

// Start runs the program in dir with args, its output collected for
// Output, and waits until ready returns nil, polling every 50 ms for at
// most wait. A program that exits, or is not ready in time, is an error
// (with its output).
func Start(dir string, wait time.Duration, ready func() error, path string, args ...string) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that Stop reaches the workers it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Name: path, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready:\n%s", path, out.String())
		default:
		}
		err := ready()
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s not ready after %v (%v):\n%s", path, wait, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the daemon and its children (SIGTERM, then SIGKILL after 5 s)
// and waits for it to exit. It may be called more than once.
func (p *Process) Stop() {
	p.once.Do(func() {
		pgid := -p.cmd.Process.Pid
		syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
		// Workers that outlived their parent.
		syscall.Kill(pgid, syscall.SIGKILL)
	})
}

// Output returns what the daemon wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Dial returns nil when something accepts connections at address on
// network: a readiness check for Start.
func Dial(network, address string) func() error {
	return func() error {
		c, err := net.DialTimeout(network, address, 200*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
