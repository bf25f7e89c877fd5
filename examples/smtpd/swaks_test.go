package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// skipped lists the tests skipped for a missing tool, for TestMain to
// print after the run: go test shows a skip only with -v otherwise.
var (
	skippedMu sync.Mutex
	skipped   []string
)

// needTool skips t when the program tool is not installed, or fails it
// when MTAGUARD_REQUIRE_TOOLS=1.
func needTool(t *testing.T, tool, install string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err == nil {
		return
	}
	if os.Getenv("MTAGUARD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is not installed (MTAGUARD_REQUIRE_TOOLS=1; %s)", tool, install)
	}
	skippedMu.Lock()
	skipped = append(skipped, fmt.Sprintf("%s: %s is not installed (%s)", t.Name(), tool, install))
	skippedMu.Unlock()
	t.Skipf("%s is not installed (%s)", tool, install)
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range skipped {
		fmt.Fprintln(os.Stderr, "SKIPPED:", s)
	}
	os.Exit(code)
}

// swaks runs swaks against addr and returns its exit status and output.
func swaks(t *testing.T, addr string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("swaks", append([]string{"--server", addr, "--timeout", "20"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestSwaks drives the main flows with swaks (the Debian package), the
// tool a mail administrator would use, against the server as main runs it.
func TestSwaks(t *testing.T) {
	needTool(t, "swaks", "apt-get install swaks")
	data := filepath.Join(t.TempDir(), "message.eml")
	forged := filepath.Join(t.TempDir(), "forged.eml")
	os.WriteFile(data, []byte(cleanMessage), 0o600)
	os.WriteFile(forged, []byte(strings.Replace(cleanMessage, "alice@example.org", "ceo@forged.example", 1)), 0o600)
	from := func(f string) []string { return []string{"--helo", "mail.example.org", "--from", f} }

	// swaks's exit status names the step that failed: 24 no recipient
	// accepted, 26 message refused after DATA.
	addr, maildir, _ := startMain(t)
	for _, step := range []struct {
		name   string
		args   []string
		status int
		reply  string
	}{
		{"accepted", append(from("alice@example.org"), "--to", "bob@example.net", "--data", data), 0, "<-  250 "},
		{"relay refused", append(from("alice@example.org"), "--to", "victim@example.com", "--data", data), 24, "<** 554 5.7.1 "},
		{"DMARC reject", append(from("ceo@forged.example"), "--to", "bob@example.net", "--data", forged), 26, "<** 550 5.7.26 "},
	} {
		status, out := swaks(t, addr, step.args...)
		if status != step.status || !strings.Contains(out, step.reply) {
			t.Errorf("%s: swaks exit %d, want %d with %q:\n%s", step.name, status, step.status, step.reply, out)
		}
	}
	msgs := delivered(t, maildir)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "Authentication-Results: mx.example.net;") {
		t.Errorf("delivered %q", msgs)
	}

	addr, maildir, _ = startMain(t, "-greylist", "memory", "-grey-delay", "1s")
	args := append(from("alice@example.org"), "--to", "bob@example.net", "--data", data)
	if status, out := swaks(t, addr, args...); status != 24 || !strings.Contains(out, "<** 451 4.7.1 ") {
		t.Errorf("first attempt: swaks exit %d, want 24 with 451 4.7.1:\n%s", status, out)
	}
	time.Sleep(1100 * time.Millisecond)
	if status, out := swaks(t, addr, args...); status != 0 {
		t.Errorf("retry after the delay: swaks exit %d:\n%s", status, out)
	}
	if n := len(delivered(t, maildir)); n != 1 {
		t.Errorf("%d messages delivered after the retry, want 1", n)
	}
}
