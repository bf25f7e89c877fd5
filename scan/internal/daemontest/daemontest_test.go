package daemontest

import (
	"os"
	"testing"
	"time"
)

// TestLookMissing: a program that is not installed skips the test, or
// fails it with MTAGUARD_REQUIRE_TOOLS=1. Only the skip is checked here,
// since a failing subtest fails this test too.
func TestLookMissing(t *testing.T) {
	if Required() {
		t.Skip("MTAGUARD_REQUIRE_TOOLS=1: a missing program fails, which this test cannot run")
	}
	skipped := false
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Look(t, "mtaguard-no-such-daemon")
	})
	if !skipped {
		t.Error("a missing program did not skip")
	}
}

// TestStartStop starts a program that listens nowhere: Start waits for
// readiness, then Stop ends it.
func TestStartStop(t *testing.T) {
	sh := Look(t, "sh")
	ready := time.Now().Add(200 * time.Millisecond)
	p, err := Start(t.TempDir(), 5*time.Second, func() error {
		if time.Now().Before(ready) {
			return os.ErrNotExist
		}
		return nil
	}, sh, "-c", "echo started; sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.Stop()
	p.Stop()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if p.Output() != "started\n" {
		t.Errorf("output %q", p.Output())
	}
	if _, err := Start(t.TempDir(), time.Second, func() error { return os.ErrNotExist }, sh, "-c", "exit 3"); err == nil {
		t.Error("a program that exits was ready")
	}
}
